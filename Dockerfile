# The rollgate analysis server (`rollgate analysis-server`), the verdict service Argo Rollouts' web
# metric provider calls. Build and push (docs/kubernetes.md, "Running the analysis server"):
#   docker build -t <registry>/rollgate-analysis:<version> .
#   docker push <registry>/rollgate-analysis:<version>
# Two stages: the first installs every dependency, which builds dist/ (the prepare script: tsc and
# the Lambda bundle); the image gets the production dependencies and the compiled CLI only (no
# TypeScript loader). It runs as the image's non-root `node` user (uid 1000, which the rendered
# Deployment's securityContext expects).
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
USER node
EXPOSE 8080
ENTRYPOINT ["node", "bin/rollgate.mjs"]
CMD ["analysis-server", "--port", "8080", "--host", "0.0.0.0"]

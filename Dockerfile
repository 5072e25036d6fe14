# The rollgate analysis server (`rollgate analysis-server`), the verdict service Argo Rollouts' web
# metric provider calls. Build and push (docs/kubernetes.md, "Running the analysis server"):
#   docker build -t <registry>/rollgate-analysis:<version> .
#   docker push <registry>/rollgate-analysis:<version>
# The CLI runs its TypeScript sources through tsx (a runtime dependency), so the image needs the
# production dependencies, bin/ and src/ only. It runs as the image's non-root `node` user (uid 1000,
# which the rendered Deployment's securityContext expects) and writes only to /tmp (tsx's cache).
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
USER node
EXPOSE 8080
ENTRYPOINT ["node", "bin/rollgate.mjs"]
CMD ["analysis-server", "--port", "8080", "--host", "0.0.0.0"]

/**
 * The Argo Rollouts CRDs, read at runtime from YAML files (by default the copies vendored in this
 * package, `vendor/argo-rollouts/`, see its README for origin and licence), and their OpenAPI
 * schemas as plain JSON Schema for validators.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const CRD_FILES = ["rollout-crd.yaml", "analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml", "analysis-run-crd.yaml"] as const;

export interface CrdDocument {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: Array<{ name: string; schema: { openAPIV3Schema: Record<string, unknown> } }>;
    [key: string]: unknown;
  };
}

/**
 * The rollgate package's root: the nearest folder above `from` whose package.json is named
 * "rollgate". Works from source, from dist/ and from dist/cjs/ (whose package.json only sets the
 * module type), and in an installed node_modules/rollgate.
 */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown }).name === "rollgate") return dir;
      } catch {
        // unreadable or not JSON: not ours, keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json named "rollgate" above ${from}`);
    dir = parent;
  }
}

/** Default CRD folder: `<package root>/vendor/argo-rollouts`, shipped inside the package. */
export function defaultCrdDirectory(): string {
  return resolve(packageRoot(), "vendor", "argo-rollouts");
}

/** Reads and parses the four Argo Rollouts CRDs. Errors say which file and how to point elsewhere. */
export function loadArgoCrds(directory: string = defaultCrdDirectory()): CrdDocument[] {
  return CRD_FILES.map((file) => {
    const path = join(directory, file);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      throw new Error(
        `installCrds: cannot read ${path}; set crdDirectory to the folder holding the Argo Rollouts CRD files (${CRD_FILES.join(", ")}) or install the CRDs yourself and leave installCrds off`,
      );
    }
    const doc = parse(text) as CrdDocument;
    if (doc?.kind !== "CustomResourceDefinition" || !doc.spec?.versions?.[0]?.schema?.openAPIV3Schema) {
      throw new Error(`installCrds: ${path} is not a CustomResourceDefinition with an openAPIV3Schema`);
    }
    return doc;
  });
}

/**
 * The CRD's openAPIV3Schema as JSON Schema a generic validator enforces the way the API server
 * does with strict field validation (kubectl's default):
 * - `x-kubernetes-int-or-string` becomes "integer or string";
 * - objects with `properties` and no `additionalProperties` reject unknown fields, unless marked
 *   `x-kubernetes-preserve-unknown-fields` (the API server would prune or reject such fields, so a
 *   misspelled field must fail rather than vanish).
 */
export function toStrictJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStrictJsonSchema);
  if (!schema || typeof schema !== "object") return schema;
  const src = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(src)) {
    if (key === "properties" && value && typeof value === "object") {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toStrictJsonSchema(v)]));
    } else if (key.startsWith("x-kubernetes-")) {
      continue;
    } else {
      out[key] = toStrictJsonSchema(value);
    }
  }
  if (src["x-kubernetes-int-or-string"] === true) {
    delete out.type;
    out.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  if (src.properties && src.additionalProperties === undefined && src["x-kubernetes-preserve-unknown-fields"] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

/** Writes schema/rollout-policy.schema.json, the JSON Schema of the policy as users write it. */
import { writeFileSync } from "node:fs";
import { policyJsonSchema } from "../src/policy/index.js";

const target = new URL("../schema/rollout-policy.schema.json", import.meta.url);
const schema = { $id: "https://rollgate.dev/schema/rollout-policy.schema.json", title: "rollgate RolloutPolicy", ...policyJsonSchema() };
writeFileSync(target, `${JSON.stringify(schema, null, 2)}\n`);
console.log(`wrote ${target.pathname}`);

import type { PolicyInput } from "../src/policy/schema.js";

/**
 * The `policy` argument of the components: the RolloutPolicy as you would write it in YAML.
 * In TypeScript it is typed field by field (editors complete it; a wrong type for a known field is
 * a compile error). It is also open to further keys, which makes it a JSON object (a map) to
 * Pulumi's component schema analyzer, so Python, Go, C#, Java and YAML programs pass the policy as
 * a map: the analyzer accepts no unions, and the policy language is made of them (strategy and
 * gate kinds). Unknown or misspelled fields are rejected at preview by the policy validation,
 * which names the field and the fix.
 */
export type PolicyArgument = PolicyInput & { [key: string]: any };

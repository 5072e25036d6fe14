/**
 * The package's main entry (`import ... from "rollgate"`, `require("rollgate")`): the policy,
 * engine, analysis and flag APIs and every Pulumi component. It is also the entry point of the
 * Pulumi component package (PulumiPlugin.yaml): Pulumi's plugin host require()s the package
 * folder (package.json `main`, the CommonJS build) and serves the ComponentResource classes it
 * exports, and its schema analyzer reads this file (tsconfig.json includes it) to find their
 * argument types.
 */
export * from "./src/index.js";
export * from "./components/index.js";

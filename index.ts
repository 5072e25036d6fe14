// Entry point of the Pulumi component package (PulumiPlugin.yaml): Pulumi's component analyzer
// falls back to the root index.ts when package.json's main (dist/) has no TypeScript source.
export * from "./components/index.js";

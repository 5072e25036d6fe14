export * from "./policy/index.js";
export * from "./engine/index.js";
export * from "./analysis/index.js";
export * from "./flags/index.js";

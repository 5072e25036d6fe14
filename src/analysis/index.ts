export * from "./gate.js";
export * from "./power.js";
export * from "./sequential.js";
export * from "./stats.js";
export * from "./types.js";
export * from "./dispersion.js";

export * from "./gate.js";
export * from "./types.js";

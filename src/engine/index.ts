export * from "./decide.js";
export * from "./types.js";
export * from "./hooks.js";

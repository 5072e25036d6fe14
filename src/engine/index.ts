export * from "./decide.js";
export * from "./types.js";

export * from "./comparisons.js";
export * from "./controller.js";
export * from "./random.js";
export * from "./simulator.js";
export * from "./traffic.js";
export * from "./types.js";

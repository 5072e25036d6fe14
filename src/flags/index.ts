export * from "./document.js";
export * from "./strategy.js";

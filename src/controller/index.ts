export * from "./config.js";
export * from "./controller.js";
export * from "./events.js";
export * from "./wiring.js";

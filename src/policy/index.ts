export * from "./duration.js";
export * from "./errors.js";
export * from "./presets.js";
export * from "./resolve.js";
export * from "./schema.js";
export * from "./types.js";
export * from "./access.js";
export * from "./warnings.js";

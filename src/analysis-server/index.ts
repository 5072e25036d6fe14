export * from "./judge.js";
export * from "./prometheus.js";
export * from "./request.js";
export * from "./server.js";
export { gatherCloudWatch, trailingRunStart } from "./cloudwatch.js";

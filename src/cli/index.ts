export { run, buildProgram } from "./program.js";
export { processIo, sleep, type CliIo, type CliOutput } from "./io.js";
export { EXIT, CliError, UsageError } from "./errors.js";
export { locate, type AwsFlags, type Located, type LocateHooks } from "./locate.js";
export { gatherView, renderWatchFrame, renderStatus, viewJson, type ServiceView } from "./view.js";
export { renderReportSvg } from "./report/svg.js";
export { reportFromHistory } from "./report/from-history.js";
export { reportFromSimulation } from "./report/from-sim.js";
export type { ReportData } from "./report/model.js";

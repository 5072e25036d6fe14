/** Entry of the `rollgate` bin: the real process's io, exit code from `run`. */
import "./quiet-warnings.js";
import { processIo } from "./io.js";
import { run } from "./program.js";

const code = await run(process.argv.slice(2), processIo());
// Let stdout drain before exiting; AWS SDK sockets would otherwise keep the process alive.
process.exitCode = code;
setImmediate(() => process.exit(code));

/**
 * `npm run demo [-- --fast] [-- --minute-ms N] [-- --out DIR]`. Exits 0 after a full run, 1 on
 * error, 130 on Ctrl-C; moto is stopped in every case.
 */
import "../cli/quiet-warnings.js";
import { runDemo } from "./demo.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
process.once("SIGTERM", () => controller.abort());

const minuteArg = flag("--minute-ms");
const minuteMs = process.argv.includes("--fast") ? 0 : minuteArg !== undefined ? Number(minuteArg) : undefined;
if (minuteMs !== undefined && !(minuteMs >= 0)) {
  process.stderr.write(`--minute-ms must be a number of milliseconds, 0 or more (got ${minuteArg})\n`);
  process.exit(2);
}
const started = Date.now();
let code = 0;
try {
  await runDemo({
    out: process.stdout,
    signal: controller.signal,
    ...(minuteMs !== undefined ? { minuteMs } : {}),
    ...(flag("--out") ? { outDir: flag("--out")! } : {}),
  });
  process.stdout.write(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
} catch (err) {
  code = controller.signal.aborted ? 130 : 1;
  process.stderr.write(controller.signal.aborted ? "\ninterrupted; moto stopped\n" : `\ndemo failed: ${(err as Error).stack ?? String(err)}\n`);
}
process.exit(code);

/**
 * One controller invocation in its own process, for crash tests: configured from ROLLGATE_* like
 * the Lambda, talking to AWS_ENDPOINT_URL (the fault proxy), with the test's clock (CRASH_CLOCK),
 * handling the payload in CRASH_PAYLOAD. The parent SIGKILLs it at a chosen request.
 */
import { createControllerFromEnv } from "../../src/controller/wiring.js";

const now = Number(process.env.CRASH_CLOCK);
const controller = createControllerFromEnv(process.env, { endpoint: process.env.AWS_ENDPOINT_URL!, region: "us-east-1", credentials: { accessKeyId: "testing", secretAccessKey: "testing" }, maxAttempts: 1 }, {
  clock: () => now,
  newRolloutId: (v) => `${v}-crash`,
});
process.stdout.write("ready\n");
controller
  .handle(JSON.parse(process.env.CRASH_PAYLOAD!))
  .then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  })
  .catch((err: Error) => {
    process.stdout.write(`error ${err.name}: ${err.message}\n`);
    process.exit(1);
  });

/** Worker thread of the simulator benchmark: runs the jobs it is sent, posts the columns back. */
import { parentPort } from "node:worker_threads";
import { runJob, type Job } from "./sim-lib.js";

parentPort!.on("message", (job: Job | null) => {
  if (job === null) {
    parentPort!.close();
    return;
  }
  const r = runJob(job);
  parentPort!.postMessage(r);
});

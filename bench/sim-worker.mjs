// Worker entry: registers tsx's loader inside the thread, then runs the TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./sim-worker.ts");

/**
 * A moto server (AWS emulator, `python3 -m moto.server`) on 127.0.0.1 and a free port, for tests,
 * benchmarks and the local demo. It binds to loopback only and is stopped by its own pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export interface MotoServer {
  /** `http://127.0.0.1:<port>`: the endpoint override for every SDK client. */
  endpoint: string;
  port: number;
  /** Region the fake credentials and clients use. */
  region: string;
  /** Fake credentials moto accepts. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Clears every resource in the emulator (moto's reset API) without restarting it. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** Python interpreter. @default process.env.ROLLGATE_PYTHON ?? "python3" */
  python?: string;
  /** Port to bind; a free one is picked when absent. */
  port?: number;
  /** How long to wait for the server to answer. @default 20000 */
  startTimeoutMs?: number;
  region?: string;
}

/** Asks the OS for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(endpoint: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto server exited with code ${child.exitCode} before it was ready:\n${output()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok || res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto server did not answer on ${endpoint} within ${timeoutMs} ms (is moto installed? python3 -m pip install 'moto[server]'):\n${output()}`);
}

/** Starts moto in server mode on 127.0.0.1. Call `stop()` when done (tests: in afterAll). */
export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  const port = options.port ?? (await freePort());
  const python = options.python ?? process.env.ROLLGATE_PYTHON ?? "python3";
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(python, ["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  try {
    await waitReady(endpoint, child, options.startTimeoutMs ?? 20_000, () => log);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    endpoint,
    port,
    region: options.region ?? "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Where the CLI reads and writes. `run(argv, io)` takes it as an argument so tests run commands
 * in-process and capture their output; `processIo()` binds it to the real terminal.
 */
import { createInterface } from "node:readline/promises";

export interface CliOutput {
  write(text: string): void;
  /** True when this is a terminal: `watch` redraws in place only then. */
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Whether a person can answer a confirmation prompt. */
  stdinIsTTY: boolean;
  /** Asks a question on the terminal and returns the answer line. */
  prompt(question: string): Promise<string>;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on Ctrl-C: `watch` stops and the command returns. */
  signal?: AbortSignal;
  /** Waits between `watch` polls; tests pass a fast one. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** The wall clock (epoch ms). The demo passes its accelerated clock. */
  now(): number;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The real terminal. Ctrl-C aborts `signal` once; a second Ctrl-C exits at once. */
export function processIo(): CliIo {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  // `rollgate history | head`: the reader went away, which is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
  return {
    stdout: {
      write: (t) => void process.stdout.write(t),
      get isTTY() {
        return Boolean(process.stdout.isTTY);
      },
      get columns() {
        return process.stdout.columns;
      },
    },
    stderr: { write: (t) => void process.stderr.write(t), isTTY: Boolean(process.stderr.isTTY) },
    stdinIsTTY: Boolean(process.stdin.isTTY),
    async prompt(question) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    sleep,
    now: () => Date.now(),
  };
}

/** A captured io for running the CLI in-process: `run(argv, io)` with stdout/stderr as strings. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliIo } from "../src/cli/io.js";

export interface CapturedIo extends CliIo {
  out: string;
  err: string;
  prompts: string[];
  reset(): void;
}

export function captureIo(options: { tty?: boolean; stdinTTY?: boolean; answer?: string; env?: Record<string, string | undefined>; cwd?: string; now?: () => number } = {}): CapturedIo {
  const io: CapturedIo = {
    out: "",
    err: "",
    prompts: [],
    stdout: { write: (t) => void (io.out += t), isTTY: options.tty ?? false, columns: 100 },
    stderr: { write: (t) => void (io.err += t), isTTY: false },
    stdinIsTTY: options.stdinTTY ?? false,
    async prompt(q) {
      io.prompts.push(q);
      return options.answer ?? "";
    },
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    sleep: async () => {},
    now: options.now ?? (() => Date.now()),
    reset() {
      io.out = "";
      io.err = "";
      io.prompts = [];
    },
  };
  return io;
}

export function tempDir(prefix = "rollgate-cli-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

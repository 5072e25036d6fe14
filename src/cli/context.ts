/** What every command gets: the io, the output mode and the style. */
import type { CliIo } from "./io.js";
import { styleFor, type Style } from "./format.js";

export interface CommandContext {
  io: CliIo;
  style: Style;
  /** --json: one JSON document on stdout, nothing else there. */
  json: boolean;
  /** Text for people (suppressed under --json). */
  print(text: string): void;
  /** The JSON document (only under --json). */
  emit(value: unknown): void;
}

export function createContext(io: CliIo, json: boolean): CommandContext {
  return {
    io,
    json,
    style: styleFor(json ? false : io.stdout.isTTY, io.env),
    print(text) {
      if (!json) io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    },
    emit(value) {
      if (json) io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
  };
}

/** What every command gets: the io, the output mode and the style. */
import type { CliIo } from "./io.js";
import { styleFor, type Style } from "./format.js";
import { sanitizeOutput } from "./sanitize.js";

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
  const style = styleFor(json ? false : io.stdout.isTTY, io.env);
  // Colour codes survive only when the style adds them (a terminal); everything else is escaped.
  const colour = !json && style.bold("x") !== "x";
  return {
    io,
    json,
    style,
    print(text) {
      if (!json) io.stdout.write(sanitizeOutput(text.endsWith("\n") ? text : `${text}\n`, colour));
    },
    emit(value) {
      // JSON.stringify escapes C0 controls; sanitizeOutput escapes the rest (C1, bidi) as \uXXXX, still valid JSON.
      if (json) io.stdout.write(sanitizeOutput(`${JSON.stringify(value, null, 2)}\n`, false));
    },
  };
}

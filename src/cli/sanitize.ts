/**
 * Terminal safety. Anything the CLI prints may come from the state table or the controller, and so
 * from whoever could write a note, an actor or a reason: control characters in it must never
 * reach a terminal as control characters (escape sequences can rewrite the screen, set the
 * window title, write the clipboard (OSC 52) or hide text; bidi overrides reorder it).
 *
 * Two layers. Data read from AWS is escaped where it enters the CLI (`sanitizeDeep`, applied to
 * the store and the command responses in locate.ts), so renderers only ever see printable text,
 * in --json output too (a `jq -r` of a note prints the escape, not the sequence). And every write
 * to stdout and stderr passes `sanitizeOutput`, which escapes whatever is left except the SGR
 * colour codes this CLI's own style adds on a terminal.
 */

// C0 controls but tab and newline, DEL, C1 controls, line/paragraph separators, bidi embeddings,
// overrides and isolates, zero-width characters and the BOM.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_DATA = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/g;

const visible = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** A data string with every control character (tab and newline included) shown as \uXXXX. */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE_DATA, visible);
}

/** True when `s` contains a character escapeControls would escape. */
export function hasControls(s: string): boolean {
  UNSAFE_DATA.lastIndex = 0;
  const found = UNSAFE_DATA.test(s);
  UNSAFE_DATA.lastIndex = 0;
  return found;
}

/** Every string in a JSON-like value escaped (keys too); other values as they are. */
export function sanitizeDeep<T>(value: T): T {
  if (typeof value === "string") return escapeControls(value) as T;
  if (Array.isArray(value)) return value.map((v) => sanitizeDeep(v)) as T;
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [escapeControls(k), sanitizeDeep(v)])) as T;
  }
  return value;
}

/**
 * Text about to be written: controls escaped, newlines and tabs kept, and with `allowSgr` the
 * colour sequences (ESC [ digits m) kept, which is all this CLI's style emits.
 */
export function sanitizeOutput(text: string, allowSgr: boolean): string {
  if (!allowSgr) return text.replace(UNSAFE, visible);
  let out = "";
  let last = 0;
  for (const m of text.matchAll(SGR)) {
    out += text.slice(last, m.index).replace(UNSAFE, visible) + m[0];
    last = m.index! + m[0].length;
  }
  return out + text.slice(last).replace(UNSAFE, visible);
}

/** A wrapper of an object whose async methods' results are sanitizeDeep'ed. */
export function sanitizingProxy<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof v !== "function") return typeof v === "string" ? escapeControls(v) : v;
      return (...args: unknown[]) => {
        const r = (v as (...a: unknown[]) => unknown).apply(obj, args);
        return r instanceof Promise ? r.then((x) => sanitizeDeep(x)) : sanitizeDeep(r);
      };
    },
  });
}

/** Plain-text helpers: aligned tables, colours (terminals only), numbers and times people read. */
import { formatDuration } from "../policy/duration.js";

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const ansi = (code: number) => (s: string) => `\u001b[${code}m${s}\u001b[0m`;
const plain = (s: string) => s;

/** ANSI colours on a terminal unless NO_COLOR is set; plain text in pipes, files and CI logs. */
export function styleFor(isTTY: boolean | undefined, env: Record<string, string | undefined>): Style {
  const on = Boolean(isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb";
  if (!on) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  return { bold: ansi(1), dim: ansi(2), red: ansi(31), green: ansi(32), yellow: ansi(33), cyan: ansi(36) };
}

// eslint-disable-next-line no-control-regex
const ANSI_PATTERN = /\u001b\[[0-9;]*m/g;
export function visibleLength(s: string): number {
  return s.replace(ANSI_PATTERN, "").length;
}

function pad(s: string, width: number, right: boolean): string {
  const gap = Math.max(0, width - visibleLength(s));
  return right ? " ".repeat(gap) + s : s + " ".repeat(gap);
}

/** Columns aligned on the widest cell; numeric-looking columns right-aligned. */
export function table(headers: string[], rows: string[][], options: { indent?: string; right?: number[] } = {}): string {
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const right = new Set(options.right ?? []);
  const indent = options.indent ?? "";
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => pad(c, widths[i]!, right.has(i)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

export function fmtPercent(weight: number, total: number): string {
  if (total <= 0) return "-";
  const p = (100 * weight) / total;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return "never";
  return Math.round(n).toLocaleString("en-US");
}

export function fmtMinutes(minutes: number | undefined): string {
  if (minutes === undefined) return "-";
  if (!Number.isFinite(minutes)) return "never";
  return formatDuration(Math.ceil(minutes * 60) * 1000);
}

export function fmtAgo(ms: number): string {
  return ms < 1000 ? "just now" : `${formatDuration(Math.round(ms / 1000) * 1000)} ago`;
}

export function fmtTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A bar of `width` cells filled to `fraction`. */
export function bar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return "#".repeat(full) + "-".repeat(width - full);
}

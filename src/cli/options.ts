/**
 * Flag value parsers. Each throws commander's InvalidArgumentError with the fix, and commander
 * prefixes the flag's name, so a bad value reads
 * `error: option '--rps <n>' argument 'fast' is invalid. must be a positive number, e.g. --rps 200`.
 */
import { InvalidArgumentError } from "commander";
import { parseDuration } from "../policy/duration.js";

export function positiveNumber(example: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number, e.g. ${example}`);
    return n;
  };
}

export function positiveInteger(example: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n <= 0) throw new InvalidArgumentError(`must be a whole number above 0, e.g. ${example}`);
    return n;
  };
}

export function nonNegativeInteger(example: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`must be a whole number, 0 or more, e.g. ${example}`);
    return Number(value);
  };
}

/** A fraction strictly between 0 and 1. */
export function fraction(example: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !(n > 0 && n < 1)) throw new InvalidArgumentError(`must be a number between 0 and 1, e.g. ${example}`);
    return n;
  };
}

export function duration(example: string) {
  return (value: string): number => {
    const ms = parseDuration(value.trim());
    if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`must be a duration such as 2s, 90s, 5m or 1h30m, e.g. ${example}`);
    return ms;
  };
}

/** Repeatable `name=value` with a numeric value; accumulates into a record. */
export function keyNumber(example: string, check: (n: number) => boolean, what: string) {
  return (value: string, previous: Record<string, number> | undefined): Record<string, number> => {
    const m = /^([^=]+)=(.+)$/.exec(value);
    const n = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`must be <gate>=<${what}>, e.g. ${example}`);
    return { ...previous, [m[1]!.trim()]: n };
  };
}

/** Endpoint override: an http(s) URL. */
export function url(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
    return value.replace(/\/$/, "");
  } catch {
    throw new InvalidArgumentError("must be an http(s) URL, e.g. --endpoint-url http://127.0.0.1:5000");
  }
}

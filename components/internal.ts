/**
 * Helpers shared by the components: argument checks that run on plain values (so they are unit
 * testable without a Pulumi engine), ARN parsing, and where the controller bundle lives.
 * Not part of the public API.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";

/** A bad component argument: the message names the field and the fix. */
export class ArgsError extends Error {
  override readonly name = "ArgsError";
}

/** The value when it is already known (a plain value), undefined for Outputs and Promises. */
export function plain<T>(value: pulumi.Input<T> | undefined): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return undefined;
  return value as T;
}

/** Throws when not exactly one of the named fields is set (definedness is known even for Outputs). */
export function requireExactlyOne(component: string, fields: Record<string, unknown>, hint: string): void {
  const set = Object.entries(fields).filter(([, v]) => v !== undefined && v !== null);
  if (set.length !== 1) {
    const names = Object.keys(fields).map((f) => `[${f}]`);
    const got = set.length === 0 ? "none was" : `${set.map(([k]) => k).join(" and ")} were`;
    throw new ArgsError(`${component}: exactly 1 of ${names.join(" or ")} must be provided, but ${got} given; ${hint}`);
  }
}

/** Throws when a field that only applies in another mode is set. */
export function forbid(component: string, fields: Record<string, unknown>, because: string): void {
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null) {
      throw new ArgsError(`${component}: ${field} ${because}; remove ${field}`);
    }
  }
}

export function checkInteger(component: string, field: string, value: number | undefined, min: number, max: number, unit = ""): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ArgsError(`${component}: ${field} must be a whole number from ${min} to ${max}${unit}, got ${JSON.stringify(value)}`);
  }
}

export function checkNumber(component: string, field: string, value: number | undefined, minExclusive: number, maxExclusive: number, unit = ""): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= minExclusive || value >= maxExclusive) {
    throw new ArgsError(`${component}: ${field} must be a number above ${minExclusive} and below ${maxExclusive}${unit}, got ${JSON.stringify(value)}`);
  }
}

export function checkOneOf(component: string, field: string, value: string | undefined, allowed: readonly string[]): void {
  if (value === undefined) return;
  if (!allowed.includes(value)) {
    throw new ArgsError(`${component}: ${field} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${JSON.stringify(value)}`);
  }
}

export function checkNonEmpty(component: string, field: string, value: string | undefined, what: string): void {
  if (value === undefined) return;
  if (typeof value !== "string" || value.trim() === "") throw new ArgsError(`${component}: ${field} must be ${what}, got ${JSON.stringify(value)}`);
}

export interface ArnParts {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

/** Splits an ARN; undefined when the string is not one. */
export function parseArn(arn: string): ArnParts | undefined {
  const m = /^arn:([^:]+):([^:]+):([^:]*):([^:]*):(.+)$/.exec(arn);
  if (!m) return undefined;
  return { partition: m[1]!, service: m[2]!, region: m[3]!, account: m[4]!, resource: m[5]! };
}

/**
 * The `LoadBalancer` CloudWatch dimension (`app/<name>/<id>`) from an ALB ARN. Parsing keeps the
 * metric dimensions free of a lookup, so they are known at preview.
 */
export function loadBalancerArnSuffix(arn: string, field = "loadBalancerArn"): string {
  const parts = parseArn(arn);
  const m = parts && /^loadbalancer\/(app\/[^/]+\/[^/]+)$/.exec(parts.resource);
  if (!parts || parts.service !== "elasticloadbalancing" || !m) {
    throw new ArgsError(
      `${field} must be an Application Load Balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>), got ${JSON.stringify(arn)}`,
    );
  }
  return m[1]!;
}

/** The alarm name from a CloudWatch alarm ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`). */
export function alarmNameFromArn(arn: string, field: string): string {
  const parts = parseArn(arn);
  if (!parts || parts.service !== "cloudwatch" || !parts.resource.startsWith("alarm:") || parts.resource.length <= 6) {
    throw new ArgsError(`${field} must be CloudWatch alarm ARNs (arn:aws:cloudwatch:<region>:<account>:alarm:<name>), got ${JSON.stringify(arn)}`);
  }
  return parts.resource.slice("alarm:".length);
}

/** Runs a plain-value check and rethrows its error as a ResourceError attached to the component. */
export function check(resource: pulumi.Resource, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof ArgsError || (e instanceof Error && e.name === "PolicyError")) throw new pulumi.ResourceError(e.message, resource);
    throw e;
  }
}

/** Same as check, for use inside apply: returns the value so it can be chained. */
export function checked<T>(resource: pulumi.Resource, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ArgsError || (e instanceof Error && e.name === "PolicyError")) throw new pulumi.ResourceError(e.message, resource);
    throw e;
  }
}

/** Tags every rollgate resource carries, merged under the caller's. */
export function withTags(
  tags: pulumi.Input<Record<string, pulumi.Input<string>>> | undefined,
  extra: Record<string, pulumi.Input<string>>,
): pulumi.Output<Record<string, string>> {
  return pulumi.all([pulumi.output(tags ?? {}), pulumi.output(extra)]).apply(([t, e]): Record<string, string> => ({ "rollgate:managed-by": "rollgate", ...(t as Record<string, string>), ...(e as Record<string, string>) }));
}

/**
 * Default path of the controller bundle: `dist/lambda/controller.mjs` at the package root. The
 * root is found by walking up from this file, so it works from source (tsx) and from dist/.
 */
export function defaultControllerBundlePath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: string }).name === "rollgate") {
          return path.join(dir, "dist", "lambda", "controller.mjs");
        }
      } catch {
        // not our package.json; keep walking
      }
    }
    dir = path.dirname(dir);
  }
  return path.resolve("dist", "lambda", "controller.mjs");
}

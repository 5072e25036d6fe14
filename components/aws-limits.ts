/**
 * AWS's documented limits for what the components create, checked at preview. moto and Pulumi's
 * mock runtime accept requests AWS rejects, so every limit a component can reach is checked here,
 * on plain values, with an error that names the field. Sources (AWS documentation):
 *
 * - ALB listener rules ("Condition types for listener rules", HttpHeaderConditionConfig):
 *   at most one host-header, path-pattern and source-ip condition per rule (http-header may repeat);
 *   up to 3 values ("match evaluations") per condition, up to 5 per rule; up to 5 wildcards per
 *   rule; host values up to 128 characters of a-z A-Z 0-9 - _ . * ?, with a "." and only letters
 *   after the last one; path values up to 128 characters of a-z A-Z 0-9 _ - . $ / ~ " ' @ : + & * ?;
 *   header names up to 40 characters of RFC 7230 token characters, no wildcards, not Host; header
 *   values up to 128 visible ASCII characters; source-ip values are CIDR blocks. Priorities 1..50000.
 *   A forward action lists at most 5 target groups, weights 0..999.
 * - CloudWatch (PutMetricAlarm, PutCompositeAlarm): alarm names 1..255 characters without control
 *   characters; at most 20 metric queries per alarm of which at most 10 read a metric; an
 *   expression up to 2048 characters; period 10, 20, 30 or a multiple of 60 seconds; evaluation
 *   periods x period at most one day; a composite alarm rule up to 10240 characters and 100
 *   alarms; percentile alarms need 10 / (1 - p) samples per period to be evaluated.
 * - Lambda: the environment (every key and value) at most 4 KB; timeout 1..900 s.
 * - EventBridge schedule expressions: `rate(1 minute)`, `rate(N minutes)` (N > 1), hours and days
 *   likewise, or `cron(min hour day-of-month month day-of-week year)` with a `?` in one of the
 *   two day fields.
 */
import { ArgsError } from "./internal.js";

// ---------------------------------------------------------------- ALB listener rules

export const ALB = {
  valuesPerCondition: 3,
  valuesPerRule: 5,
  wildcardsPerRule: 5,
  valueLength: 128,
  headerNameLength: 40,
  maxPriority: 50000,
  targetGroupsPerForward: 5,
  maxWeight: 999,
} as const;

/** One condition of a listener rule, as the components build it. */
export type RuleConditionSpec =
  | { type: "host-header"; values: string[] }
  | { type: "path-pattern"; values: string[] }
  | { type: "http-header"; headerName: string; values: string[] }
  | { type: "source-ip"; values: string[] };

const HOST_VALUE = /^[A-Za-z0-9\-_.*?]+$/;
const PATH_VALUE = /^[A-Za-z0-9_\-.$/~"'@:+&*?]+$/;
// RFC 7230 token characters.
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const VISIBLE_ASCII = /^[\x20-\x7e]+$/;
const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
const IPV6_CIDR = /^[0-9A-Fa-f:]+(:(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3})?\/(12[0-8]|1[01]\d|[1-9]?\d)$/;

const wildcards = (s: string) => (s.match(/[*?]/g) ?? []).length;

/**
 * Checks one listener rule's conditions against ALB's limits. `field` names what the caller
 * passed (e.g. `rings[1] ("beta")`), `origin` maps a condition index to the argument it came from.
 */
export function checkRuleConditions(component: string, field: string, conditions: { spec: RuleConditionSpec; from: string }[]): void {
  const where = (from: string) => `${component}: ${from}`;
  const once = new Map<string, string>();
  let values = 0;
  let stars = 0;
  for (const { spec, from } of conditions) {
    if (spec.type !== "http-header") {
      const earlier = once.get(spec.type);
      if (earlier !== undefined) {
        throw new ArgsError(`${where(from)}: ${field} would have two ${spec.type} conditions (also from ${earlier}); an ALB rule allows one, so merge the values into one list`);
      }
      once.set(spec.type, from);
    }
    if (spec.values.length === 0) throw new ArgsError(`${where(from)}: a ${spec.type} condition needs at least one value`);
    if (spec.values.length > ALB.valuesPerCondition) {
      throw new ArgsError(`${where(from)} has ${spec.values.length} values; an ALB ${spec.type} condition allows at most ${ALB.valuesPerCondition} (add another rule, or use a wildcard)`);
    }
    values += spec.values.length;
    spec.values.forEach((v, i) => {
      const at = `${from}[${i}]`;
      if (typeof v !== "string" || v.length === 0) throw new ArgsError(`${component}: ${at} must be a non-empty string, got ${JSON.stringify(v)}`);
      if (spec.type !== "source-ip" && v.length > ALB.valueLength) throw new ArgsError(`${component}: ${at} is ${v.length} characters; ALB allows at most ${ALB.valueLength}`);
      switch (spec.type) {
        case "host-header": {
          if (!HOST_VALUE.test(v)) throw new ArgsError(`${component}: ${at} ${JSON.stringify(v)} may contain only a-z, A-Z, 0-9, "-", "_", "." and the wildcards * and ?`);
          const dot = v.lastIndexOf(".");
          if (dot < 0 || !/^[A-Za-z]+$/.test(v.slice(dot + 1))) {
            throw new ArgsError(`${component}: ${at} ${JSON.stringify(v)} must contain a "." and only letters after the last "." (e.g. "checkout.example.com")`);
          }
          break;
        }
        case "path-pattern":
          if (!PATH_VALUE.test(v)) throw new ArgsError(`${component}: ${at} ${JSON.stringify(v)} may contain only a-z, A-Z, 0-9, _ - . $ / ~ " ' @ : + & and the wildcards * and ?`);
          break;
        case "http-header":
          if (!VISIBLE_ASCII.test(v)) throw new ArgsError(`${component}: ${at} ${JSON.stringify(v)} must be visible ASCII characters (ALB rules ignore control and non-ASCII characters)`);
          break;
        case "source-ip":
          if (!IPV4_CIDR.test(v) && !IPV6_CIDR.test(v)) throw new ArgsError(`${component}: ${at} ${JSON.stringify(v)} must be a CIDR block such as "203.0.113.0/24" (no wildcards)`);
          break;
      }
      if (spec.type !== "source-ip") stars += wildcards(v);
    });
    if (spec.type === "http-header") {
      const n = spec.headerName;
      if (typeof n !== "string" || n.length === 0 || n.length > ALB.headerNameLength || !HEADER_NAME.test(n) || /[*?]/.test(n)) {
        throw new ArgsError(`${where(from)}: header name ${JSON.stringify(n)} must be 1..${ALB.headerNameLength} characters of letters, digits and !#$%&'+-.^_\`|~ (no wildcards)`);
      }
      if (n.toLowerCase() === "host") throw new ArgsError(`${where(from)}: an http-header condition cannot match Host; use hostHeaders`);
    }
  }
  if (values > ALB.valuesPerRule) {
    throw new ArgsError(
      `${component}: ${field} has ${values} condition values in total (${conditions.map((c) => `${c.from}: ${c.spec.values.length}`).join(", ")}); an ALB rule allows at most ${ALB.valuesPerRule}. Use fewer values or a wildcard`,
    );
  }
  if (stars > ALB.wildcardsPerRule) {
    throw new ArgsError(`${component}: ${field} uses ${stars} wildcards (* or ?) in its conditions; an ALB rule allows at most ${ALB.wildcardsPerRule}`);
  }
}

// ---------------------------------------------------------------- CloudWatch alarms

export const CLOUDWATCH = {
  alarmNameLength: 255,
  metricQueriesPerAlarm: 20,
  metricStatsPerAlarm: 10,
  expressionLength: 2048,
  maxEvaluationSeconds: 86_400,
  compositeRuleLength: 10_240,
  compositeChildren: 100,
} as const;

export function checkAlarmName(component: string, field: string, name: string): void {
  if (name.length < 1 || name.length > CLOUDWATCH.alarmNameLength || /[\x00-\x1f\x7f]/.test(name)) {
    throw new ArgsError(`${component}: ${field} makes the alarm name ${JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name)} (${name.length} characters); CloudWatch allows 1..${CLOUDWATCH.alarmNameLength} characters without control characters`);
  }
  if (name.includes('"')) throw new ArgsError(`${component}: ${field} makes the alarm name ${JSON.stringify(name)}, which a composite alarm rule cannot quote; remove the '"'`);
}

/** An alarm period: 10, 20, 30 or a multiple of 60 (ALB metrics are per minute: a multiple of 60). */
export function checkAlarmPeriod(component: string, field: string, period: number | undefined, options: { minuteMetrics?: boolean } = {}): void {
  if (period === undefined) return;
  const ok = Number.isInteger(period) && period > 0 && (period % 60 === 0 || (!options.minuteMetrics && [10, 20, 30].includes(period))) && period <= CLOUDWATCH.maxEvaluationSeconds;
  if (!ok) {
    throw new ArgsError(
      `${component}: ${field} must be ${options.minuteMetrics ? "" : "10, 20, 30 or "}a multiple of 60 seconds up to 86400${options.minuteMetrics ? " (ALB metrics are published per minute)" : ""}, got ${JSON.stringify(period)}`,
    );
  }
}

export function checkEvaluationWindow(component: string, field: string, periodSeconds: number, evaluationPeriods: number): void {
  if (periodSeconds * evaluationPeriods > CLOUDWATCH.maxEvaluationSeconds) {
    throw new ArgsError(`${component}: ${field}: ${evaluationPeriods} evaluation periods of ${periodSeconds} s is ${periodSeconds * evaluationPeriods} s; CloudWatch evaluates at most one day (86400 s)`);
  }
}

export interface MetricQueryShape {
  id: string;
  expression?: string;
  metric?: unknown;
}

/** The metric-math rules of one alarm's queries. */
export function checkMetricQueries(component: string, alarm: string, queries: MetricQueryShape[]): void {
  if (queries.length > CLOUDWATCH.metricQueriesPerAlarm) throw new ArgsError(`${component}: alarm ${alarm} has ${queries.length} metric queries; CloudWatch allows ${CLOUDWATCH.metricQueriesPerAlarm}`);
  const stats = queries.filter((q) => q.metric !== undefined).length;
  if (stats > CLOUDWATCH.metricStatsPerAlarm) throw new ArgsError(`${component}: alarm ${alarm} reads ${stats} metrics; CloudWatch allows ${CLOUDWATCH.metricStatsPerAlarm}`);
  const ids = new Set<string>();
  for (const q of queries) {
    if (!/^[a-z][A-Za-z0-9_]{0,254}$/.test(q.id)) throw new ArgsError(`${component}: alarm ${alarm}: query id ${JSON.stringify(q.id)} must start with a lowercase letter and hold only letters, digits and _`);
    if (ids.has(q.id)) throw new ArgsError(`${component}: alarm ${alarm}: query id ${q.id} is used twice`);
    ids.add(q.id);
    if (q.expression !== undefined && (q.expression.length < 1 || q.expression.length > CLOUDWATCH.expressionLength)) {
      throw new ArgsError(`${component}: alarm ${alarm}: expression ${q.id} is ${q.expression.length} characters; CloudWatch allows 1..${CLOUDWATCH.expressionLength}`);
    }
  }
}

export function checkCompositeRule(component: string, field: string, alarmNames: string[]): string {
  const rule = alarmNames.map((n) => `ALARM("${n}")`).join(" OR ");
  if (alarmNames.length > CLOUDWATCH.compositeChildren) {
    throw new ArgsError(`${component}: ${field} would combine ${alarmNames.length} alarms in one composite alarm; CloudWatch allows ${CLOUDWATCH.compositeChildren}. Pass fewer additionalAlarmArns (combine your KPI alarms into a composite of your own)`);
  }
  if (rule.length > CLOUDWATCH.compositeRuleLength) {
    throw new ArgsError(`${component}: ${field} makes a composite alarm rule of ${rule.length} characters; CloudWatch allows ${CLOUDWATCH.compositeRuleLength}. Use shorter alarm names or fewer alarms`);
  }
  return rule;
}

/** Samples a percentile alarm needs per period before CloudWatch evaluates it: 10 / (1 - p). */
export function percentileSamplesNeeded(percentile: number): number {
  // Rounded before the ceiling: 100 - 99.9 is not exactly 0.1 in floating point.
  return Math.ceil(Math.round((1000 / (100 - percentile)) * 1e6) / 1e6);
}

// ---------------------------------------------------------------- Lambda

export const LAMBDA = { environmentBytes: 4096, maxTimeoutSeconds: 900 } as const;

/** Bytes Lambda counts against its 4 KB environment limit: every key and value, UTF-8. */
export function environmentBytes(env: Record<string, string>): number {
  return Object.entries(env).reduce((n, [k, v]) => n + Buffer.byteLength(k, "utf8") + Buffer.byteLength(v, "utf8"), 0);
}

export function checkEnvironmentSize(component: string, env: Record<string, string>): void {
  const bytes = environmentBytes(env);
  if (bytes > LAMBDA.environmentBytes) {
    const biggest = Object.entries(env)
      .map(([k, v]) => [k, Buffer.byteLength(k) + Buffer.byteLength(v)] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, n]) => `${k} ${n} B`)
      .join(", ");
    throw new ArgsError(`${component}: the controller's environment would be ${bytes} bytes; Lambda allows ${LAMBDA.environmentBytes} (largest: ${biggest}). Shorten the ARNs or names it carries`);
  }
}

// ---------------------------------------------------------------- EventBridge schedules

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;

/** Undefined when `expr` is a schedule expression EventBridge accepts, else what is wrong. */
export function scheduleExpressionProblem(expr: string): string | undefined {
  const rate = RATE.exec(expr);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2]!;
    if (n < 1 || String(n) !== rate[1]) return `the rate must be a positive whole number without leading zeros`;
    if (n === 1 && unit.endsWith("s")) return `use the singular for 1: "rate(1 ${unit.slice(0, -1)})"`;
    if (n > 1 && !unit.endsWith("s")) return `use the plural above 1: "rate(${n} ${unit}s)"`;
    return undefined;
  }
  if (expr.startsWith("rate(")) return `a rate is "rate(<value> <unit>)" with unit minute(s), hour(s) or day(s)`;
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (!cron) return `must be "rate(...)" or "cron(...)"`;
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6) return `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  const field = (v: string, lo: number, hi: number, extra: RegExp | undefined, name: string): string | undefined => {
    for (const part of v.split(",")) {
      if (part === "*" || (extra && extra.test(part))) continue;
      const m = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
      if (!m) return `${name} field ${JSON.stringify(v)} is not valid`;
      for (const x of [m[1], m[2]]) if (x !== undefined && x !== "*" && (Number(x) < lo || Number(x) > hi)) return `${name} field ${JSON.stringify(v)} is outside ${lo}-${hi}`;
      if (m[3] !== undefined && Number(m[3]) < 1) return `${name} field ${JSON.stringify(v)} has a step below 1`;
    }
    return undefined;
  };
  const MONTHS = /^(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))?$/i;
  const DAYS = /^(SUN|MON|TUE|WED|THU|FRI|SAT)(-(SUN|MON|TUE|WED|THU|FRI|SAT))?$|^[1-7]L$|^[1-7]#[1-5]$|^L$/i;
  if (dom !== "?" && dow !== "?") return `one of day-of-month and day-of-week must be "?"`;
  if (dom === "?" && dow === "?") return `only one of day-of-month and day-of-week may be "?"`;
  return (
    field(min, 0, 59, undefined, "minutes") ??
    field(hour, 0, 23, undefined, "hours") ??
    (dom === "?" ? undefined : field(dom, 1, 31, /^(L|W|\d{1,2}W|LW)$/, "day-of-month")) ??
    field(month, 1, 12, MONTHS, "month") ??
    (dow === "?" ? undefined : field(dow, 1, 7, DAYS, "day-of-week")) ??
    field(year, 1970, 2199, undefined, "year")
  );
}

export function checkScheduleExpression(component: string, field: string, expr: string | undefined): void {
  if (expr === undefined) return;
  if (typeof expr !== "string") throw new ArgsError(`${component}: ${field} must be a schedule expression such as "rate(1 minute)", got ${JSON.stringify(expr)}`);
  const problem = scheduleExpressionProblem(expr);
  if (problem) throw new ArgsError(`${component}: ${field} ${JSON.stringify(expr)} is not an EventBridge schedule expression: ${problem}`);
}

/**
 * A model of CloudWatch GetMetricData with metric math, for the rendered CloudWatch queries: the
 * metricStat queries become one-minute datapoint series over the window, the expressions are
 * evaluated per timestamp, and the ReturnData series comes back newest first, as GetMetricData's
 * default TimestampDescending. No real engine is available offline (moto does not evaluate metric
 * math), so this is a model and says so; it covers only what the renderer emits:
 * numbers, query ids, + - * / ^, comparisons, AND/OR, IF, LOG, FILL, RUNNING_SUM.
 *
 * Datapoints follow the ALB's publishing: RequestCount and TargetResponseTime exist only for a
 * minute with requests, HTTPCode_Target_5XX_Count and TargetConnectionErrorCount only when
 * non-zero (so FILL(x, 0) matters). Where an operation has no numeric answer (division by zero,
 * LOG of 0 or less, a missing operand) the timestamp has no value, which the model takes from
 * CloudWatch's rule that metric math drops non-numeric results.
 */
import type { CloudWatchQuery } from "../../components/kubernetes/conditions.js";

/** One minute of both target groups (or, for metric gates, of the custom metric's two variants). */
export interface CwMinute {
  canary?: SideMinute;
  stable?: SideMinute;
}

export interface SideMinute {
  requests: number;
  http5xx: number;
  connectionErrors?: number;
  /** TargetResponseTime: percentage of requests at or below each threshold (seconds, as written in PR(:t)). */
  percentRank?: Record<string, number>;
  /** TargetResponseTime percentiles in seconds, by statistic name ("p99"). */
  percentiles?: Record<string, number>;
  /** Custom metric sums by metric name (metric gates). */
  custom?: Record<string, number>;
}

type Series = Array<number | null>;

function statSeries(q: CloudWatchQuery, minutes: CwMinute[]): Series {
  const stat = q.metricStat!;
  const dims = stat.metric.dimensions.map((d) => d.value).join(" ");
  const side: "canary" | "stable" = /canary/.test(dims) ? "canary" : "stable";
  return minutes.map((m) => {
    const s = m[side];
    if (!s) return null;
    const name = stat.metric.metricName;
    if (stat.metric.namespace === "AWS/ApplicationELB") {
      if (name === "RequestCount") return s.requests > 0 ? s.requests : null;
      if (name === "HTTPCode_Target_5XX_Count") return s.http5xx > 0 ? s.http5xx : null;
      if (name === "TargetConnectionErrorCount") return (s.connectionErrors ?? 0) > 0 ? s.connectionErrors! : null;
      if (name === "TargetResponseTime") {
        if (s.requests <= 0) return null;
        if (stat.stat === "SampleCount") return s.requests;
        const pr = /^PR\(:(.+)\)$/.exec(stat.stat);
        if (pr) return s.percentRank?.[pr[1]!] ?? null;
        return s.percentiles?.[stat.stat] ?? null;
      }
      throw new Error(`metric-math model: unknown ALB metric ${name}`);
    }
    const v = s.custom?.[name];
    return v === undefined ? null : v;
  });
}

type Token = { kind: "num"; value: number } | { kind: "id"; value: string } | { kind: "op"; value: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|[-+*/^(),<>]))/y;
  while (src.slice(re.lastIndex).trim() !== "") {
    const m = re.exec(src);
    if (!m) throw new Error(`metric-math model: cannot read ${src} at ${re.lastIndex}`);
    if (m[1] !== undefined) out.push({ kind: "num", value: Number(m[1]) });
    else if (m[2] !== undefined) out.push({ kind: "id", value: m[2] });
    else out.push({ kind: "op", value: m[3]! });
  }
  return out;
}

/** Evaluates the queries over the window's minutes; returns the ReturnData series, newest first, without gaps. */
export function getMetricData(queries: CloudWatchQuery[], minutes: CwMinute[]): Array<{ id: string; values: number[] }> {
  const env = new Map<string, Series>();
  const n = minutes.length;
  for (const q of queries) if (q.metricStat) env.set(q.id, statSeries(q, minutes));
  const lift = (f: (...xs: number[]) => number | null, ...args: Series[]): Series =>
    Array.from({ length: n }, (_, i) => {
      const xs = args.map((a) => a[i]);
      if (xs.some((x) => x === null || x === undefined)) return null;
      const r = f(...(xs as number[]));
      return r === null || !Number.isFinite(r) ? null : r;
    });
  const constant = (v: number): Series => Array.from({ length: n }, () => v);

  const evaluate = (src: string): Series => {
    const tokens = tokenize(src);
    let pos = 0;
    const peek = () => tokens[pos];
    const isOp = (v: string) => peek()?.kind === "op" && peek()!.value === v;
    const isKw = (v: string) => peek()?.kind === "id" && peek()!.value === v;
    const expect = (v: string) => {
      if (!isOp(v)) throw new Error(`metric-math model: expected ${v} in ${src}`);
      pos++;
    };
    const or = (): Series => {
      let l = and();
      while (isKw("OR")) {
        pos++;
        l = lift((a, b) => (a !== 0 || b !== 0 ? 1 : 0), l, and());
      }
      return l;
    };
    const and = (): Series => {
      let l = cmp();
      while (isKw("AND")) {
        pos++;
        l = lift((a, b) => (a !== 0 && b !== 0 ? 1 : 0), l, cmp());
      }
      return l;
    };
    const cmp = (): Series => {
      const l = add();
      const t = peek();
      if (t?.kind === "op" && [">", "<", ">=", "<=", "==", "!="].includes(t.value)) {
        pos++;
        const r = add();
        const f = { ">": (a: number, b: number) => a > b, "<": (a: number, b: number) => a < b, ">=": (a: number, b: number) => a >= b, "<=": (a: number, b: number) => a <= b, "==": (a: number, b: number) => a === b, "!=": (a: number, b: number) => a !== b }[t.value]!;
        return lift((a, b) => (f(a, b) ? 1 : 0), l, r);
      }
      return l;
    };
    const add = (): Series => {
      let l = mul();
      while (isOp("+") || isOp("-")) {
        const op = (tokens[pos++] as { value: string }).value;
        const r = mul();
        l = lift(op === "+" ? (a, b) => a + b : (a, b) => a - b, l, r);
      }
      return l;
    };
    const mul = (): Series => {
      let l = pow();
      while (isOp("*") || isOp("/")) {
        const op = (tokens[pos++] as { value: string }).value;
        const r = pow();
        l = lift(op === "*" ? (a, b) => a * b : (a, b) => (b === 0 ? null : a / b), l, r);
      }
      return l;
    };
    const pow = (): Series => {
      const l = unary();
      if (isOp("^")) {
        pos++;
        return lift((a, b) => a ** b, l, pow());
      }
      return l;
    };
    const unary = (): Series => {
      if (isOp("-")) {
        pos++;
        return lift((a) => -a, unary());
      }
      return primary();
    };
    const args = (): Series[] => {
      expect("(");
      const out = [or()];
      while (isOp(",")) {
        pos++;
        out.push(or());
      }
      expect(")");
      return out;
    };
    const primary = (): Series => {
      const t = tokens[pos++];
      if (!t) throw new Error(`metric-math model: unexpected end of ${src}`);
      if (t.kind === "num") return constant(t.value);
      if (t.kind === "op" && t.value === "(") {
        const inner = or();
        expect(")");
        return inner;
      }
      if (t.kind === "id") {
        switch (t.value) {
          case "IF": {
            const [c, a, b] = args();
            return Array.from({ length: n }, (_, i) => (c![i] === null ? null : c![i] !== 0 ? a![i]! : b![i]!));
          }
          case "LOG": {
            const [x] = args();
            return lift((a) => (a > 0 ? Math.log(a) : null), x!);
          }
          case "FILL": {
            const [x, v] = args();
            return x!.map((a, i) => (a === null ? v![i]! : a));
          }
          case "RUNNING_SUM": {
            const [x] = args();
            let sum = 0;
            let seen = false;
            return x!.map((a) => {
              if (a === null) return seen ? sum : null;
              seen = true;
              sum += a;
              return sum;
            });
          }
          default: {
            const s = env.get(t.value);
            if (!s) throw new Error(`metric-math model: unknown id ${t.value} in ${src}`);
            return s;
          }
        }
      }
      throw new Error(`metric-math model: unexpected ${t.value} in ${src}`);
    };
    const out = or();
    if (pos !== tokens.length) throw new Error(`metric-math model: trailing input in ${src}`);
    return out;
  };

  for (const q of queries) if (q.expression !== undefined) env.set(q.id, evaluate(q.expression));
  return queries
    .filter((q) => q.returnData)
    .map((q) => ({ id: q.id, values: [...env.get(q.id)!].reverse().filter((v): v is number => v !== null) }));
}

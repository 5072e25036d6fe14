/**
 * A small evaluator of CloudWatch metric-math expressions (the subset the components use: ids,
 * numbers, + - * /, comparisons, AND/OR, IF, FILL, ABS) over per-period time series, plus the
 * M-of-N alarm evaluation with treatMissingData "missing". moto neither evaluates alarms nor
 * computes metric math, so the alarm expressions are checked here.
 *
 * Semantics (CloudWatch User Guide, "Metric math syntax and functions"): a series holds values at
 * some of the period timestamps; a timestamp without a value is missing. IF(c, a) keeps a's value
 * where c is non-zero and drops the point elsewhere; IF(c, a, b) takes b there. FILL(s, v) gives
 * every timestamp of the query a value. How arithmetic between two series treats a timestamp that
 * only one of them has is the subject of the comparison-alarm finding: `missingAsZero` (the
 * documented behaviour, a missing operand counts as 0) and `dropMissing` (the point is dropped)
 * are both provided, so an expression can be shown safe under either.
 */

export type Series = Map<number, number>;
export type Value = Series | number;
export type ArithmeticMode = "missingAsZero" | "dropMissing";

type Node =
  | { kind: "num"; value: number }
  | { kind: "id"; name: string }
  | { kind: "call"; fn: string; args: Node[] }
  | { kind: "bin"; op: string; left: Node; right: Node };

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(>=|<=|==|!=|&&|\|\||[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[()+\-*/,<>])/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw new Error(`cannot parse ${JSON.stringify(src.slice(pos))}`);
    tokens.push(m[1]!);
    pos = re.lastIndex;
  }
  return tokens;
}

const PRECEDENCE: Record<string, number> = { OR: 1, "||": 1, AND: 2, "&&": 2, "==": 3, "!=": 3, ">": 4, ">=": 4, "<": 4, "<=": 4, "+": 5, "-": 5, "*": 6, "/": 6 };

export function parse(src: string): Node {
  const t = tokenize(src);
  let i = 0;
  const primary = (): Node => {
    const tok = t[i++];
    if (tok === undefined) throw new Error("unexpected end of expression");
    if (tok === "(") {
      const e = expr(0);
      if (t[i++] !== ")") throw new Error("expected )");
      return e;
    }
    if (tok === "-") return { kind: "bin", op: "-", left: { kind: "num", value: 0 }, right: primary() };
    if (/^\d/.test(tok)) return { kind: "num", value: Number(tok) };
    if (t[i] === "(") {
      i++;
      const args: Node[] = [];
      if (t[i] !== ")") {
        for (;;) {
          args.push(expr(0));
          if (t[i] === ",") i++;
          else break;
        }
      }
      if (t[i++] !== ")") throw new Error(`expected ) after arguments of ${tok}`);
      return { kind: "call", fn: tok.toUpperCase(), args };
    }
    return { kind: "id", name: tok };
  };
  const expr = (min: number): Node => {
    let left = primary();
    for (;;) {
      const op = t[i];
      const p = op !== undefined ? PRECEDENCE[op] : undefined;
      if (p === undefined || p <= min) break;
      i++;
      left = { kind: "bin", op: op!, left, right: expr(p) };
    }
    return left;
  };
  const node = expr(0);
  if (i !== t.length) throw new Error(`unexpected ${t[i]}`);
  return node;
}

export interface EvalContext {
  /** Every period timestamp of the query (what FILL fills). */
  grid: number[];
  /** Series by query id (metrics and already evaluated expressions). */
  series: Record<string, Series>;
  mode: ArithmeticMode;
}

function binary(op: string, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
    case ">":
      return a > b ? 1 : 0;
    case ">=":
      return a >= b ? 1 : 0;
    case "<":
      return a < b ? 1 : 0;
    case "<=":
      return a <= b ? 1 : 0;
    case "==":
      return a === b ? 1 : 0;
    case "!=":
      return a !== b ? 1 : 0;
    case "AND":
    case "&&":
      return a !== 0 && b !== 0 ? 1 : 0;
    case "OR":
    case "||":
      return a !== 0 || b !== 0 ? 1 : 0;
  }
  throw new Error(`unknown operator ${op}`);
}

export function evaluate(node: Node, ctx: EvalContext): Value {
  switch (node.kind) {
    case "num":
      return node.value;
    case "id": {
      const s = ctx.series[node.name];
      if (!s) throw new Error(`unknown id ${node.name}`);
      return s;
    }
    case "bin": {
      const a = evaluate(node.left, ctx);
      const b = evaluate(node.right, ctx);
      if (typeof a === "number" && typeof b === "number") return binary(node.op, a, b);
      const out: Series = new Map();
      const stamps = new Set<number>([...(typeof a === "number" ? [] : a.keys()), ...(typeof b === "number" ? [] : b.keys())]);
      for (const ts of [...stamps].sort((x, y) => x - y)) {
        const av = typeof a === "number" ? a : a.get(ts);
        const bv = typeof b === "number" ? b : b.get(ts);
        if (av === undefined || bv === undefined) {
          if (ctx.mode === "dropMissing") continue;
        }
        const r = binary(node.op, av ?? 0, bv ?? 0);
        if (Number.isFinite(r)) out.set(ts, r);
      }
      return out;
    }
    case "call": {
      const args = node.args.map((a) => evaluate(a, ctx));
      const series = (v: Value): Series => (typeof v === "number" ? new Map(ctx.grid.map((ts) => [ts, v])) : v);
      switch (node.fn) {
        case "ABS": {
          const s = args[0]!;
          if (typeof s === "number") return Math.abs(s);
          return new Map([...s].map(([ts, v]) => [ts, Math.abs(v)]));
        }
        case "FILL": {
          const s = series(args[0]!);
          const fill = args[1]!;
          if (typeof fill !== "number") throw new Error("FILL with a series value is not supported here");
          return new Map(ctx.grid.map((ts) => [ts, s.get(ts) ?? fill]));
        }
        case "IF": {
          const cond = series(args[0]!);
          const yes = series(args[1]!);
          const no = args[2] === undefined ? undefined : series(args[2]);
          const out: Series = new Map();
          for (const [ts, c] of cond) {
            const v = c !== 0 ? yes.get(ts) : no?.get(ts);
            if (v !== undefined && Number.isFinite(v)) out.set(ts, v);
          }
          return out;
        }
      }
      throw new Error(`function ${node.fn} is not supported by this evaluator`);
    }
  }
}

export interface AlarmQuery {
  id: string;
  expression?: string;
  returnData?: boolean;
  metric?: unknown;
}

/** Evaluates an alarm's queries in order (expressions may use earlier ids) and returns the returnData series. */
export function evaluateAlarmQueries(queries: AlarmQuery[], metrics: Record<string, Series>, grid: number[], mode: ArithmeticMode): Series {
  const series: Record<string, Series> = { ...metrics };
  let result: Series | undefined;
  // Expressions may refer to ids defined after them; evaluate until all are resolved.
  const pending = queries.filter((q) => q.expression !== undefined);
  for (let round = 0; pending.length > 0 && round < 10; round++) {
    for (const q of [...pending]) {
      try {
        const v = evaluate(parse(q.expression!), { grid, series, mode });
        series[q.id] = typeof v === "number" ? new Map(grid.map((ts) => [ts, v])) : v;
        pending.splice(pending.indexOf(q), 1);
      } catch (e) {
        if (!/unknown id/.test((e as Error).message)) throw e;
      }
    }
  }
  if (pending.length) throw new Error(`unresolved expressions: ${pending.map((q) => q.id).join(", ")}`);
  for (const q of queries) if (q.returnData) result = series[q.id];
  if (!result) throw new Error("no query returns data");
  return result;
}

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/**
 * M of N with treatMissingData "missing": only periods with a data point count; ALARM when at
 * least M of the last N periods' points breach, INSUFFICIENT_DATA when no period has a point.
 */
export function alarmState(series: Series, grid: number[], threshold: number, evaluationPeriods: number, datapointsToAlarm: number, operator: "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold"): AlarmState {
  const last = grid.slice(-evaluationPeriods);
  const points = last.map((ts) => series.get(ts)).filter((v): v is number => v !== undefined);
  if (points.length === 0) return "INSUFFICIENT_DATA";
  const breaching = points.filter((v) => (operator === "GreaterThanThreshold" ? v > threshold : v >= threshold)).length;
  return breaching >= datapointsToAlarm ? "ALARM" : "OK";
}

/**
 * The real expr engine (test/support/expr-engine.ts): Argo's EvaluateResult rule and the expr
 * behaviours rollgate's rendered conditions rely on, pinned so a different engine version that
 * changed any of them fails here first.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { evaluateAll, evaluateArgo, exprEngineBinary, type ArgoResult } from "./support/expr-engine.js";

// Install (when missing) and build the evaluator once, outside any test's timeout.
beforeAll(() => void exprEngineBinary(), 600_000);

const cw = (...values: number[]): ArgoResult => ({ kind: "cloudWatch", series: [{ id: "verdict", values }] });
const vec = (...values: number[]): ArgoResult => ({ kind: "vector", values });

describe("Argo's EvaluateResult (utils/evaluate/evaluate.go lines 18-58)", () => {
  test.each<[string, { successCondition?: string; failureCondition?: string }, ArgoResult, string]>([
    ["failure wins over success", { successCondition: "true", failureCondition: "true" }, vec(1), "Failed"],
    ["neither true is Inconclusive", { successCondition: "false", failureCondition: "false" }, vec(1), "Inconclusive"],
    ["only a success condition: not successful is Failed", { successCondition: "result[0] < 1" }, vec(2), "Failed"],
    ["only a failure condition: not failed is Successful", { failureCondition: "result[0] > 1" }, vec(0), "Successful"],
    ["no conditions: Successful", {}, vec(), "Successful"],
    ["a non-boolean condition is an Error", { successCondition: "result[0]" }, vec(1), "Error"],
  ])("%s", (_name, conditions, result, phase) => {
    expect(evaluateArgo(conditions, result).phase).toBe(phase);
  });
});

describe("expr behaviours the rendered conditions rely on", () => {
  test("indexing an empty list is an evaluation error (Argo: measurement Error), and && short-circuits past it", () => {
    expect(evaluateArgo({ successCondition: "result[0] <= 1" }, vec()).phase).toBe("Error");
    expect(evaluateArgo({ successCondition: "len(result) > 0 && result[0] <= 1", failureCondition: "len(result) > 0 && result[0] > 2" }, vec()).phase).toBe("Inconclusive");
    expect(evaluateArgo({ successCondition: "len(result) > 0 && len(result[0].Values) > 0 && result[0].Values[0] <= 1" }, { kind: "cloudWatch", series: [{ id: "v", values: [] }] }).phase).toBe("Failed");
  });

  test("|| short-circuits: the right side is not evaluated when the left is true", () => {
    expect(evaluateArgo({ failureCondition: "len(result) == 0 || result[0] > 2" }, vec()).phase).toBe("Failed");
  });

  test("a nil result is an Error for any condition that looks inside it (expr 1.8.9 type-checks at compile time), isNil sees it", () => {
    // Argo passes nil when a provider returns a nil list (valueFromPointer, evaluate.go lines
    // 279-291); len() or an index on it does not compile, even behind a short-circuit. So nil is a
    // provider fault (Error, governed by consecutiveErrorLimit), never a pass.
    expect(evaluateArgo({ successCondition: "len(result) > 0" }, { kind: "cloudWatch", nil: true }).phase).toBe("Error");
    expect(evaluateArgo({ successCondition: "!isNil(result) && len(result) > 0" }, { kind: "cloudWatch", nil: true }).phase).toBe("Error");
    expect(evaluateArgo({ successCondition: "false && result[0] > 0" }, { kind: "nil" }).phase).toBe("Error");
    expect(evaluateArgo({ successCondition: "isNil(result)" }, { kind: "nil" }).phase).toBe("Successful");
  });

  test("NaN compares false both ways; isNaN and isInf see it", () => {
    const [lt, gt, nan, inf] = evaluateAll([
      { conditions: { successCondition: "result[0] <= 1" }, result: vec(Number.NaN) },
      { conditions: { successCondition: "result[0] > 1" }, result: vec(Number.NaN) },
      { conditions: { successCondition: "isNaN(result[0].Values[0])" }, result: cw(Number.NaN) },
      { conditions: { successCondition: "isInf(result[0])" }, result: vec(-Infinity) },
    ]);
    expect([lt!.phase, gt!.phase, nan!.phase, inf!.phase]).toEqual(["Failed", "Failed", "Successful", "Successful"]);
  });

  test("CloudWatch results are structs with the SDK's field names: Values newest first", () => {
    expect(evaluateArgo({ successCondition: "result[0].Values[0] == 3 && result[0].Values[1] == 2" }, cw(3, 2, 1)).phase).toBe("Successful");
    // Id is a *string: expr 1.8.9 compares the pointer (false), 1.17 dereferences it. Conditions
    // must not use Id (rollgate's do not; exactly one query returns data).
    expect(evaluateArgo({ successCondition: 'result[0].Id == "verdict"' }, cw(3)).phase).toBe("Failed");
    expect(evaluateArgo({ successCondition: "result[0].values[0] == 3" }, cw(3)).phase).toBe("Error");
  });

  test("a scalar result is a number, not a list", () => {
    expect(evaluateArgo({ successCondition: "result <= 1" }, { kind: "scalar", value: 0.5 }).phase).toBe("Successful");
    expect(evaluateArgo({ successCondition: "len(result) > 0" }, { kind: "scalar", value: 0.5 }).phase).toBe("Error");
  });

  test("negative decimals and large magnitudes parse as written", () => {
    expect(evaluateArgo({ successCondition: "result[0] > -1000000 && result[0] <= 0.0000001" }, vec(-999_999)).phase).toBe("Successful");
  });
});

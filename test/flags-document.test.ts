/** Flag metadata: rendering, checks (owner, expiry, format) and listExpiredFlags. */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  checkFlagsDocument,
  checkFlagSpecs,
  listExpiredFlags,
  parseExpiry,
  renderFlagsDocument,
  type FeatureFlagsDocument,
  type FlagSpec,
} from "../src/flags/index.js";

const NOW = new Date(Date.UTC(2026, 10, 23, 12, 0)); // 2026-11-23T12:00Z

function doc(values: Record<string, Record<string, unknown>>): FeatureFlagsDocument {
  const specs: FlagSpec[] = Object.keys(values).map((key) => ({ key, enabled: true, owner: "x", expires: "2099-01-01" }));
  const d = renderFlagsDocument(specs);
  d.values = values as FeatureFlagsDocument["values"];
  return d;
}

describe("parseExpiry", () => {
  test.each([
    ["2026-11-23", Date.UTC(2026, 10, 23)],
    ["2028-02-29", Date.UTC(2028, 1, 29)],
    ["2026-02-29", undefined],
    ["2026-13-01", undefined],
    ["2026-00-10", undefined],
    ["2026-1-5", undefined],
    ["23/11/2026", undefined],
    ["2026-11-23T00:00:00Z", undefined],
    [20261123, undefined],
    [undefined, undefined],
  ] as const)("%j -> %j", (text, expected) => {
    expect(parseExpiry(text)).toBe(expected);
  });
});

describe("listExpiredFlags", () => {
  test("lists flags past their expiry day with owner and days overdue, most overdue first", () => {
    const d = doc({
      newCheckout: { enabled: true, owner: "team-payments", expires: "2026-11-20" },
      fastSearch: { enabled: false, owner: "team-search", expires: "2026-01-01" },
      darkMode: { enabled: true, owner: "team-web", expires: "2099-01-01" },
    });
    expect(listExpiredFlags(d, NOW)).toEqual([
      { name: "fastSearch", owner: "team-search", expires: "2026-01-01", daysOverdue: 326 },
      { name: "newCheckout", owner: "team-payments", expires: "2026-11-20", daysOverdue: 3 },
    ]);
  });

  test.each([
    ["the expiry day itself is still valid", "2026-11-23", []],
    ["the day after is 1 day overdue", "2026-11-22", [1]],
    ["a span over 29 February 2024 counts real days", "2024-02-27", [1000]],
  ] as const)("%s", (_label, expires, overdue) => {
    const out = listExpiredFlags(doc({ f: { enabled: true, owner: "o", expires } }), NOW);
    expect(out.map((f) => f.daysOverdue)).toEqual(overdue);
  });

  test("reads the JSON text AppConfig returns, and rejects text that is not JSON", () => {
    const d = doc({ old: { enabled: true, owner: "team-a", expires: "2026-10-24" } });
    expect(listExpiredFlags(JSON.stringify(d), NOW)).toEqual([{ name: "old", owner: "team-a", expires: "2026-10-24", daysOverdue: 30 }]);
    expect(() => listExpiredFlags("{not json", NOW)).toThrow(SyntaxError);
  });

  test("is tolerant of what it cannot judge: missing or malformed expiry, missing owner, garbage", () => {
    const d = doc({
      noExpiry: { enabled: true, owner: "a" },
      badExpiry: { enabled: true, owner: "a", expires: "soon" },
      noOwner: { enabled: true, expires: "2020-01-01" },
    });
    expect(listExpiredFlags(d, NOW)).toEqual([{ name: "noOwner", owner: "(no owner)", expires: "2020-01-01", daysOverdue: 2518 }]);
    expect(listExpiredFlags(null, NOW)).toEqual([]);
    expect(listExpiredFlags({ version: "1" }, NOW)).toEqual([]);
  });

  test("property: exactly the flags whose expiry day is before today are listed, sorted by days overdue", () => {
    const day = fc.integer({ min: -2000, max: 2000 });
    fc.assert(
      fc.property(fc.array(day, { minLength: 1, maxLength: 12 }), (offsets) => {
        const values: Record<string, Record<string, unknown>> = {};
        offsets.forEach((o, i) => {
          const d = new Date(Date.UTC(2026, 10, 23) + o * 86_400_000).toISOString().slice(0, 10);
          values[`f${i}`] = { enabled: true, owner: `team-${i}`, expires: d };
        });
        const out = listExpiredFlags(doc(values), NOW);
        const expected = offsets.filter((o) => o < 0).length;
        return (
          out.length === expected &&
          out.every((f) => f.daysOverdue === -offsets[Number(f.name.slice(1))]!) &&
          out.every((f, i) => i === 0 || out[i - 1]!.daysOverdue >= f.daysOverdue)
        );
      }),
      { seed: 23, numRuns: 200 },
    );
  });
});

describe("renderFlagsDocument", () => {
  test("renders AppConfig's feature-flag format with required owner and expires attributes", () => {
    expect(renderFlagsDocument([{ key: "beta", description: "Beta UI", enabled: false, owner: "team-web", expires: "2099-12-31" }])).toEqual({
      version: "1",
      flags: {
        beta: {
          name: "beta",
          description: "Beta UI",
          attributes: {
            owner: { description: "Team that removes this flag once its release is at 100 % and stable", constraints: { type: "string", required: true } },
            expires: {
              description: "Last day (UTC, YYYY-MM-DD) this flag may exist",
              constraints: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$", required: true },
            },
          },
        },
      },
      values: { beta: { enabled: false, owner: "team-web", expires: "2099-12-31" } },
    });
  });

  test("what it renders passes checkFlagsDocument", () => {
    expect(checkFlagsDocument(renderFlagsDocument([{ key: "a", enabled: true, owner: "o", expires: "2026-11-23" }]), NOW)).toEqual([]);
  });
});

describe("checkFlagSpecs", () => {
  test.each<[string, unknown, string, RegExp]>([
    ["an empty list", [], "flags", /at least one flag/],
    ["a bad key", [{ key: "New-Checkout", enabled: true, owner: "o", expires: "2099-01-01" }], "flags[0].key", /must start with a lowercase letter/],
    ["a duplicate key", [{ key: "a", enabled: true, owner: "o", expires: "2099-01-01" }, { key: "a", enabled: true, owner: "o", expires: "2099-01-01" }], "flags[1].key", /duplicate flag key "a" \(also flags\[0\]\)/],
    ["a missing owner", [{ key: "a", enabled: true, expires: "2099-01-01" }], "flags[0].owner", /is required/],
    ["a blank owner", [{ key: "a", enabled: true, owner: "  ", expires: "2099-01-01" }], "flags[0].owner", /is required/],
    ["a missing expiry", [{ key: "a", enabled: true, owner: "o" }], "flags[0].expires", /is required: the last day/],
    ["an expired flag", [{ key: "a", enabled: true, owner: "o", expires: "2026-11-22" }], "flags[0].expires", /expired on 2026-11-22 \(1 day ago\)/],
    ["a malformed date", [{ key: "a", enabled: true, owner: "o", expires: "2026-11-31" }], "flags[0].expires", /must be a calendar date YYYY-MM-DD/],
    ["enabled not a boolean", [{ key: "a", enabled: "yes", owner: "o", expires: "2099-01-01" }], "flags[0].enabled", /true or false/],
  ])("%s", (_label, flags, path, message) => {
    const issue = checkFlagSpecs(flags, NOW).find((i) => i.path === path);
    expect(issue, `an issue at ${path}`).toBeDefined();
    expect(issue!.message).toMatch(message);
  });
});

describe("checkFlagsDocument", () => {
  const good = () => JSON.parse(JSON.stringify(doc({ a: { enabled: true, owner: "o", expires: "2099-01-01" } }))) as Record<string, any>;

  test.each<[string, (d: Record<string, any>) => unknown, string, RegExp]>([
    ["a wrong version", (d) => ((d.version = "2"), d), "version", /must be "1"/],
    ["no flags", (d) => ((d.flags = {}), d), "flags", /at least one flag/],
    ["an unknown top-level field", (d) => ((d.extra = 1), d), "extra", /unknown field/],
    ["a bad flag key", (d) => ((d.flags["A b"] = d.flags.a), (d.values["A b"] = d.values.a), d), "flags.A b", /must start with a lowercase letter/],
    ["no owner attribute", (d) => (delete d.flags.a.attributes.owner, d), "flags.a.attributes.owner", /must be defined as/],
    ["an optional owner attribute", (d) => ((d.flags.a.attributes.owner.constraints.required = false), d), "flags.a.attributes.owner", /required: true/],
    ["no expires attribute", (d) => (delete d.flags.a.attributes.expires, d), "flags.a.attributes.expires", /must be defined as/],
    ["no value", (d) => (delete d.values.a, d), "values.a", /is required/],
    ["no owner value", (d) => (delete d.values.a.owner, d), "values.a.owner", /is required/],
    ["an expired value", (d) => ((d.values.a.expires = "2025-11-23"), d), "values.a.expires", /expired on 2025-11-23 \(365 days ago\)/],
    ["a malformed expiry value", (d) => ((d.values.a.expires = "next year"), d), "values.a.expires", /calendar date/],
    ["a value without a definition", (d) => ((d.values.b = { enabled: true }), d), "values.b", /has no definition under flags/],
    ["too many attributes", (d) => { for (let i = 0; i < 24; i++) d.flags.a.attributes[`x${i}`] = { constraints: { type: "string" } }; return d; }, "flags.a.attributes", /at most 25/],
    ["not an object", () => "flags", "", /must be an AppConfig feature-flags document/],
  ])("%s", (_label, mutate, path, message) => {
    const issues = checkFlagsDocument(mutate(good()), NOW);
    const issue = issues.find((i) => i.path === path);
    expect(issue, `an issue at ${path} in ${JSON.stringify(issues)}`).toBeDefined();
    expect(issue!.message).toMatch(message);
  });

  test("a good document has no issues", () => {
    expect(checkFlagsDocument(good(), NOW)).toEqual([]);
  });
});

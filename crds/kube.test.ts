import { describe, expect, it } from "vitest";
import { z } from "zod";
import { celRegex, keysMatching, listMap, mapOf, quantityValue, withRules } from "./kube.ts";
import { portableSource } from "./patterns.ts";

describe("withRules", () => {
  const range = withRules(z.strictObject({ min: z.int(), max: z.int() }), [
    {
      rule: "self.min <= self.max",
      message: "min must not exceed max",
      field: "min",
      holds: (self) => self.min <= self.max,
    },
  ]);

  it("enforces the rule in zod on the named field", () => {
    expect(range.safeParse({ min: 1, max: 2 }).success).toBe(true);
    const issues = range.safeParse({ min: 3, max: 2 }).error?.issues;
    expect(issues).toEqual([expect.objectContaining({ path: ["min"], message: "min must not exceed max" })]);
  });

  it("keeps earlier rules when more are added", () => {
    const both = withRules(range, [
      { rule: "self.max < 100", message: "max too big", field: "max", holds: (self) => self.max < 100 },
    ]);
    expect(both.meta()?.["x-kubernetes-validations"]?.map((rule) => rule.rule)).toEqual([
      "self.min <= self.max",
      "self.max < 100",
    ]);
    expect(both.safeParse({ min: 300, max: 200 }).error?.issues).toHaveLength(2);
  });

  it("requires holds() except for transition rules, which cannot have one", () => {
    const object = z.strictObject({ a: z.int() });
    expect(() => withRules(object, [{ rule: "self.a > 0", message: "m" }])).toThrow(/holds\(\) is required/);
    expect(() =>
      withRules(object, [{ rule: "self.a == oldSelf.a", message: "m", holds: () => true }]),
    ).toThrow(/transition rule/);
  });
});

describe("map and list builders", () => {
  it("mapOf bounds the number of entries", () => {
    const map = mapOf(z.string(), { min: 1, max: 2 });
    expect(map.safeParse({}).success).toBe(false);
    expect(map.safeParse({ a: "1" }).success).toBe(true);
    expect(map.safeParse({ a: "1", b: "2", c: "3" }).success).toBe(false);
  });

  it("keysMatching checks keys against the pattern and length, as the CEL rule does", () => {
    const map = keysMatching(mapOf(z.string(), { max: 8 }), /^[a-z]+$/, 5, "a word");
    expect(map.safeParse({ abc: "x" }).success).toBe(true);
    expect(map.safeParse({ Abc: "x" }).success).toBe(false);
    expect(map.safeParse({ abcdef: "x" }).success).toBe(false);
    expect(map.meta()?.["x-kubernetes-validations"]?.[0]?.rule).toBe(
      "self.all(k, size(k) <= 5 && k.matches(r'^[a-z]+$'))",
    );
  });

  it("listMap rejects two items with the same key", () => {
    const list = listMap(z.array(z.strictObject({ type: z.string(), value: z.int() })), ["type"]);
    expect(
      list.safeParse([
        { type: "A", value: 1 },
        { type: "B", value: 1 },
      ]).success,
    ).toBe(true);
    expect(
      list.safeParse([
        { type: "A", value: 1 },
        { type: "A", value: 2 },
      ]).error?.issues[0]?.path,
    ).toEqual([1]);
  });
});

describe("patterns in the API server's dialect", () => {
  it("drops JavaScript's slash escapes but keeps every other escape", () => {
    expect(portableSource(/^https:\/\/a\.b\/c$/)).toBe("^https://a\\.b/c$");
    expect(portableSource(/^\\\/$/)).toBe("^\\\\/$");
  });

  it("embeds patterns in CEL as raw strings and refuses what cannot be embedded", () => {
    expect(celRegex(/^a\.b$/)).toBe("r'^a\\.b$'");
    expect(() => celRegex(/^'$/)).toThrow();
    expect(() => celRegex(/^a$/i)).toThrow();
  });
});

describe("quantityValue", () => {
  it("compares quantities as the API server does", () => {
    expect(quantityValue("500m")).toBe(0.5);
    expect(quantityValue(2)).toBe(2);
    expect(quantityValue("1Gi")).toBe(2 ** 30);
    expect(quantityValue("1G")).toBe(1e9);
    expect(quantityValue("1e3")).toBe(1000);
    expect(quantityValue("1E")).toBe(1e18);
    expect(quantityValue("+1.5Ki")).toBe(1536);
    expect(quantityValue("4Gi")).toBeGreaterThan(quantityValue("4G"));
  });
});

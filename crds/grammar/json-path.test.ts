import { describe, expect, it } from "vitest";
import { compileJsonPath, fieldText } from "./json-path.ts";

const job = {
  title: "Nurse",
  company: { name: "Umbrella Health", size: 5000 },
  skills: [{ name: "ICU" }, { name: "triage" }, { other: 1 }],
  tags: ["night", "full-time"],
  remote: false,
  missing: null,
};

describe("compileJsonPath", () => {
  it.each([
    ["$.title", ["Nurse"]],
    ["$.company.name", ["Umbrella Health"]],
    ["$.company.size", [5000]],
    ["$.skills[*].name", ["ICU", "triage"]],
    ["$.skills[1].name", ["triage"]],
    ["$.skills[9].name", []],
    ["$.tags", [["night", "full-time"]]],
    ["$.nope.deeper", []],
    ["$.title.length", []],
    ["$.missing", [null]],
  ])("%s reaches %j", (path, expected) => {
    expect(compileJsonPath(path)(job)).toEqual(expected);
  });

  it("rejects what the schema would reject, naming the position", () => {
    expect(() => compileJsonPath("title")).toThrow("must start with $");
    expect(() => compileJsonPath("$.a..b")).toThrow('JSON path "$.a..b" is not supported at character 3');
    expect(() => compileJsonPath("$['a']")).toThrow("not supported at character 1");
  });

  it("reaches every element of an array too long to spread into one call", () => {
    const many = Array.from({ length: 300_000 }, (_, i) => i);
    expect(compileJsonPath("$.many[*]")({ many })).toHaveLength(300_000);
  });

  it("does not read inherited properties", () => {
    expect(compileJsonPath("$.constructor")({})).toEqual([]);
  });
});

describe("fieldText", () => {
  it("joins arrays and multiple matches with commas and prints scalars", () => {
    expect(fieldText([["night", "full-time"]])).toBe("night, full-time");
    expect(fieldText(["ICU", "triage"])).toBe("ICU, triage");
    expect(fieldText([5000])).toBe("5000");
    expect(fieldText([false])).toBe("false");
  });

  it("opens nested arrays in document order at any depth, without recursion", () => {
    expect(fieldText([[1, [2, [3, []]], 4], "5"])).toBe("1, 2, 3, 4, 5");
    // As JSON.parse reads `[[[ … "Diver" … ]]]` from a few hundred KB of changelog record.
    const deep = JSON.parse(`${"[".repeat(100_000)}"Diver"${"]".repeat(100_000)}`) as unknown;
    expect(fieldText([deep])).toBe("Diver");
  });

  it("is undefined when nothing usable was reached", () => {
    expect(fieldText([])).toBeUndefined();
    expect(fieldText([null])).toBeUndefined();
    expect(fieldText([{ a: 1 }])).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { stringifyJson } from "./json-body.ts";

/** What JSON.stringify writes once every typed float array is a plain array. */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, member: unknown) =>
    member instanceof Float32Array || member instanceof Float64Array ? Array.from(member) : member,
  );
}

describe("stringifyJson", () => {
  it("writes float vectors as JSON.stringify writes the same numbers in a plain array", () => {
    const vector = new Float32Array(4096);
    for (let index = 0; index < vector.length; index++)
      vector[index] = (Math.sin(index * 12.9898) - 0.5) * 10 ** -(index % 40);
    vector.set([0, -0, 1, -1, 1e-45, 3.4e38, Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE], 0);
    const body = { data: [{ object: "embedding", index: 0, embedding: vector }], empty: new Float64Array(0) };
    expect(stringifyJson(body)).toBe(reference(body));
    expect(JSON.parse(stringifyJson([vector.subarray(9, 20)]))).toEqual([Array.from(vector.subarray(9, 20))]);
  });

  it("follows JSON.stringify for everything else in an answer", () => {
    const values: unknown[] = [
      { object: "list", model: 'quo"te\\ \u0000 \u2028 ☃', usage: { prompt_tokens: 3, total_tokens: 3 } },
      {
        skipped: undefined,
        fn: () => 1,
        kept: null,
        nested: [undefined, () => 1, Symbol("s"), 1.5, true, false],
      },
      { at: new Date(0), nonFinite: [Number.NaN, Number.NEGATIVE_INFINITY] },
      [],
      {},
      "text",
      42,
      null,
    ];
    for (const value of values) expect(stringifyJson(value)).toBe(JSON.stringify(value));
    expect(stringifyJson(undefined)).toBe("null");
    expect(() => stringifyJson({ big: 1n })).toThrow(TypeError);
  });
});

import { describe, expect, it } from "vitest";
import { encodeJson } from "./json-body.ts";

const text = (value: unknown): string => encodeJson(value).toString("utf8");
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?(e[+-]\d+)?$/;

/** The float32 next to `value` (a positive float32) towards +inf or -inf. */
function neighbour(value: number, up: boolean): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer);
  bits[0] = bits[0]! + (up ? 1 : -1);
  return new Float32Array(bits.buffer)[0]!;
}

/** Float32 values from random bit patterns: every exponent, subnormals and both signs. */
function randomFloat32s(count: number, seed: number): Float32Array {
  const bits = new Uint32Array(count);
  let state = seed;
  for (let index = 0; index < count; index++) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    bits[index] = state;
  }
  return new Float32Array(bits.buffer);
}

describe("encodeJson", () => {
  it("writes every float32 so that it reads back as the same float32, with at most 9 digits", () => {
    const values = randomFloat32s(50_000, 7);
    const embedding = new Float32Array(4096);
    for (let index = 0; index < embedding.length; index++) embedding[index] = Math.sin(index * 12.9898) * 0.2;
    for (const vector of [values, embedding]) {
      const parsed = JSON.parse(text({ embedding: vector })) as { embedding: Array<number | null> };
      expect(parsed.embedding).toHaveLength(vector.length);
      const wrong: string[] = [];
      vector.forEach((value, index) => {
        const read = parsed.embedding[index];
        if (!Number.isFinite(value)) {
          if (read !== null) wrong.push(`${value} -> ${read}`);
          return;
        }
        // Within a quarter of the gap to either neighbour: a reader that rounds the decimal straight
        // to float32, or first to a double and then to float32, gets `value` back.
        const magnitude = Math.abs(value);
        const gap =
          magnitude === 0
            ? 1e-45
            : Math.min(
                neighbour(magnitude, true) - magnitude,
                magnitude - neighbour(magnitude, false) || Infinity,
              );
        if (Math.fround(read!) !== value || Math.abs(read! - value) > gap / 4)
          wrong.push(`${value} -> ${read}`);
      });
      expect(wrong.slice(0, 5)).toEqual([]);
    }
    for (const number of text(values).slice(1, -1).split(",")) {
      if (number === "null") continue;
      expect(number).toMatch(JSON_NUMBER);
      const significant = number
        .replace(/e.*$/, "")
        .replace(/[-.]/g, "")
        .replace(/^0+/, "")
        .replace(/0+$/, "");
      expect(significant.length).toBeLessThanOrEqual(9);
    }
  });

  // The digits are C's printf("%.9g") of the float32; the layout is JavaScript's.
  it("lays numbers out as JavaScript does for their size, trailing zeros dropped", () => {
    const cases: Array<[number, string]> = [
      [0, "0"],
      [-0, "0"],
      [1, "1"],
      [-2.5, "-2.5"],
      [1024, "1024"],
      [0.1, "0.100000001"], // the float32 nearest 0.1
      [0.0345123403, "0.034512341"],
      [-0.000001, "-9.99999997e-7"],
      [0.0000015, "0.00000150000005"],
      [16_777_216, "16777216"],
      [1e20, "100000002000000000000"],
      [1e21, "1.00000002e+21"],
      [3.4e38, "3.39999995e+38"],
      [1e-45, "1.40129846e-45"],
      [Number.NaN, "null"],
      [Number.POSITIVE_INFINITY, "null"],
      [-Number.MAX_VALUE, "null"], // -Infinity as a float32
    ];
    const written = text(new Float32Array(cases.map(([value]) => value)));
    expect(written).toBe(`[${cases.map(([, expected]) => expected).join(",")}]`);
    for (const [value, expected] of cases)
      if (expected !== "null") expect(Math.fround(Number(expected)) === Math.fround(value)).toBe(true);
    const exact = new Float32Array([0.5, 0.25, -3, 2048, 0.125, 6.5, 1e-5 * 0 + 0.75]);
    expect(text(exact)).toBe(JSON.stringify(Array.from(exact)));
  });

  it("follows JSON.stringify for everything else in an answer", () => {
    const values: unknown[] = [
      {
        object: "list",
        model: 'quo"te\\ \u0000 \u2028 ☃ \ud800',
        usage: { prompt_tokens: 3, total_tokens: 3 },
      },
      {
        skipped: undefined,
        fn: () => 1,
        kept: null,
        nested: [undefined, () => 1, Symbol("s"), 1.5, true, false],
        last: undefined,
      },
      { first: undefined, at: new Date(0), nonFinite: [Number.NaN, Number.NEGATIVE_INFINITY] },
      { doubles: new Float64Array([0.1, 1 / 3, Number.NaN]), empty: new Float32Array(0) },
      [],
      {},
      "text",
      42,
      null,
    ];
    const plain = (value: unknown): string =>
      JSON.stringify(value, (_key, member: unknown) =>
        member instanceof Float32Array || member instanceof Float64Array ? Array.from(member) : member,
      );
    for (const value of values) expect(text(value)).toBe(plain(value));
    expect(text(undefined)).toBe("null");
    expect(() => encodeJson({ big: 1n })).toThrow(TypeError);
  });

  it("grows past its scratch space for large answers and keeps earlier answers intact", () => {
    const small = encodeJson({ embedding: new Float32Array([0.5]) });
    const large = new Float32Array(100_000).fill(-0.123456789);
    const written = JSON.parse(text({ data: [large, large] })) as { data: number[][] };
    expect(written.data[1]).toHaveLength(100_000);
    expect(Math.fround(written.data[1]![99_999]!)).toBe(Math.fround(-0.123456789));
    expect(small.toString()).toBe('{"embedding":[0.5]}');
  });
});

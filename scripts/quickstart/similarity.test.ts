import { describe, expect, it } from "vitest";
import { SeededRandom } from "../../test/support/seeded-random.ts";
import { bruteForceTopK, cosine, topByCosine } from "./similarity.ts";

const vector = (...values: number[]) => Float32Array.from(values);

describe("similarity", () => {
  it("computes cosine similarity", () => {
    expect(cosine(vector(1, 0), vector(0, 1))).toBe(0);
    expect(cosine(vector(1, 1), vector(2, 2))).toBeCloseTo(1, 6);
    expect(cosine(vector(1, 0), vector(-1, 0))).toBe(-1);
    expect(cosine(vector(0, 0), vector(1, 0))).toBe(0);
    expect(() => cosine(vector(1), vector(1, 2))).toThrow("vector lengths differ: 1 vs 2");
  });

  it("ranks best first and breaks ties by id", () => {
    const candidates = [
      { id: "b", vector: vector(1, 0) },
      { id: "a", vector: vector(1, 0) },
      { id: "c", vector: vector(0, 1) },
      { id: "d", vector: vector(1, 1) },
    ];
    expect(topByCosine(vector(1, 0), candidates, 3).map((each) => each.id)).toEqual(["a", "b", "d"]);
    expect(bruteForceTopK(vector(1, 0), candidates, 3).map((each) => each.id)).toEqual(["a", "b", "d"]);
  });

  it("agrees with the brute-force search on random vectors", () => {
    const random = new SeededRandom(3);
    const randomVector = () => Float32Array.from({ length: 16 }, () => random.next() - 0.5);
    const candidates = Array.from({ length: 500 }, (_, index) => ({
      id: `job-${index}`,
      vector: randomVector(),
    }));
    for (let query = 0; query < 20; query++) {
      const q = randomVector();
      expect(topByCosine(q, candidates, 5)).toEqual(bruteForceTopK(q, candidates, 5));
    }
  });

  it("returns fewer than k when there are fewer candidates", () => {
    expect(topByCosine(vector(1), [{ id: "x", vector: vector(2) }], 5)).toEqual([{ id: "x", score: 1 }]);
  });
});

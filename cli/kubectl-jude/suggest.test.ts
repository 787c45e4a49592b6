import { describe, expect, it } from "vitest";
import { closestNames, didYouMean } from "./suggest.ts";

describe("the names closest to a mistyped one", () => {
  const names = ["minilm", "minilm-v2", "bge-small", "e5-large", "catalog-search"];

  it("keeps names a small edit away, closest first, at most 3", () => {
    expect(closestNames("minlm", names)).toEqual(["minilm"]);
    expect(closestNames("minilm-v", names)).toEqual(["minilm-v2", "minilm"]);
    expect(closestNames("bge-smal", names)).toEqual(["bge-small"]);
    expect(closestNames("catalog-serch", names)).toEqual(["catalog-search"]);
    expect(closestNames("model", ["model-a", "model-b", "model-c", "model-d"])).toEqual([
      "model-a",
      "model-b",
      "model-c",
    ]);
  });

  it("suggests nothing far from every name, or with no names", () => {
    expect(closestNames("absent", names)).toEqual([]);
    expect(closestNames("ab", ["cd"])).toEqual([]);
    expect(closestNames("minilm", [])).toEqual([]);
  });

  it("says them as kubectl-like tools do, or nothing", () => {
    expect(didYouMean("minlm", names)).toBe("; did you mean minilm?");
    expect(didYouMean("minilm-v", names)).toBe("; did you mean minilm-v2 or minilm?");
    expect(didYouMean("model", ["model-a", "model-b", "model-c"])).toBe(
      "; did you mean model-a, model-b or model-c?",
    );
    expect(didYouMean("absent", names)).toBe("");
  });
});

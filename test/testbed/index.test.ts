import { describe, expect, it } from "vitest";
import { parseComponentNames, resolveOrder } from "./index.ts";

describe("testbed component resolution", () => {
  it("starts everything in dependency order when no component is named", () => {
    expect(resolveOrder([])).toEqual([
      "kube",
      "kwok",
      "helm",
      "kafka",
      "redis",
      "model",
      "local-nodes",
      "chart-tools",
      "browser",
    ]);
  });

  it("adds what a component requires (kwok needs kube)", () => {
    expect(resolveOrder(["kwok"])).toEqual(["kube", "kwok"]);
    expect(resolveOrder(["redis", "kafka"])).toEqual(["kafka", "redis"]);
  });

  it("rejects an unknown component and lists the valid ones", () => {
    expect(() => parseComponentNames(["kube", "postgres"])).toThrow(
      'unknown testbed component "postgres"; components: kube, kwok, helm, kafka, redis, model, local-nodes, chart-tools, browser',
    );
  });
});

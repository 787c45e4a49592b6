import { describe, expect, it } from "vitest";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { CacheReader, KubeObject } from "../../operator/runtime/types.ts";
import { imagesFor } from "../shared/image.ts";
import { childLabels } from "../shared/labels.ts";
import { nearlinePipelineController } from "./controller.ts";

const longName = `jobs-${"x".repeat(70)}`;
const pipelines: KubeObject[] = ["jobs", "members", longName].map((name) => ({
  metadata: { namespace: "ns", name },
  spec: { modelRef: { name: "jude-minilm" } },
}));
const cache: CacheReader = {
  get: () => undefined,
  list: <T extends KubeObject>(type: { kind: string }, options?: { namespace?: string }) =>
    (type.kind === "NearlinePipeline"
      ? pipelines.filter((object) => object.metadata?.namespace === options?.namespace)
      : []) as T[],
};

function podOf(
  component: "nearline" | "serving" | "bootstrap",
  pipeline: string,
  namespace = "ns",
): KubeObject {
  const { labels } = childLabels(component, {
    model: "jude-minilm",
    embeddingVersion: "minilm-v1",
    pipeline,
  });
  return { metadata: { namespace, name: "p", labels } };
}

describe("nearlinePipelineController", () => {
  const definition = nearlinePipelineController({
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    concurrency: 1,
  });
  const podWatch = definition.watches?.find((watch) => watch.type === resourceTypes.pod);

  it("wakes a pipeline when one of its worker pods changes (a failing worker is reported at once)", () => {
    expect(podWatch?.managedOnly).toBe(true);
    expect(podWatch?.map(podOf("nearline", "jobs"), cache)).toEqual([{ namespace: "ns", name: "jobs" }]);
    // A name past the label length is matched through its shortened label value.
    expect(podWatch?.map(podOf("nearline", longName), cache)).toEqual([{ namespace: "ns", name: longName }]);
  });

  it("wakes nothing for other pods: bootstrap shards, serving pods, other namespaces", () => {
    expect(podWatch?.map(podOf("bootstrap", "jobs"), cache)).toEqual([]);
    expect(podWatch?.map(podOf("serving", "jobs"), cache)).toEqual([]);
    expect(podWatch?.map(podOf("nearline", "jobs", "other"), cache)).toEqual([]);
  });
});

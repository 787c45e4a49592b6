import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { testModel } from "../nearline-pipeline/test-objects.ts";
import { childLabels } from "../shared/labels.ts";
import { controllerRef } from "../shared/owner.ts";
import { retiredChildren } from "./retire-versions.ts";

describe("retiredChildren", () => {
  const model = testModel();
  const deployment = (version: string, ownerReferences?: KubeObject["metadata"]): KubeObject => ({
    kind: "Deployment",
    metadata: {
      name: `jude-minilm-${version}`,
      labels: childLabels("serving", { model: model.metadata.name, embeddingVersion: version }).labels,
      ...(ownerReferences ?? {}),
    },
  });
  const other = { ...controllerRef(model), uid: "another-object" };

  // `kubectl delete --cascade=orphan` of the model mid-promotion of v2, applied again at v3: v2's
  // orphaned serving Deployment (its GPU pods) is this model's, adopted like its record, and retired
  // with the version; a child another object controls is never touched.
  it("retires this model's children and its orphaned ones of versions it no longer serves", () => {
    const children = [
      deployment("minilm-v1", { ownerReferences: [controllerRef(model)] }),
      deployment("minilm-v2"),
      deployment("minilm-v0", { ownerReferences: [other] }),
      deployment("minilm-v3", { ownerReferences: [controllerRef(model)] }),
    ];
    expect(retiredChildren(model, children, ["minilm-v3"]).map((child) => child.metadata!.name)).toEqual([
      "jude-minilm-minilm-v1",
      "jude-minilm-minilm-v2",
    ]);
  });
});

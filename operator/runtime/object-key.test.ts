import { describe, expect, it } from "vitest";
import { controllerOwnerKey, keyFromString, keyOf, keyToString } from "./object-key.ts";
import { resourcePath, resourceTypes } from "./resource-types.ts";

describe("object keys", () => {
  it("round-trip namespaced and cluster-scoped keys", () => {
    expect(keyToString({ namespace: "recs", name: "m" })).toBe("recs/m");
    expect(keyFromString("recs/m")).toEqual({ namespace: "recs", name: "m" });
    expect(keyFromString("node-1")).toEqual({ namespace: "", name: "node-1" });
    expect(() => keyOf({ kind: "Pod", metadata: {} })).toThrow(/without metadata.name/);
  });

  it("map a child to its controlling JUDE owner only", () => {
    const child = (apiVersion: string, kind: string, controller: boolean) => ({
      metadata: {
        namespace: "recs",
        ownerReferences: [{ apiVersion, kind, name: "jude-minilm", uid: "u", controller }],
      },
    });
    expect(
      controllerOwnerKey(child("jude.dev/v1alpha1", "EmbeddingModel", true), "jude.dev", "EmbeddingModel"),
    ).toEqual({
      namespace: "recs",
      name: "jude-minilm",
    });
    expect(
      controllerOwnerKey(child("jude.dev/v1alpha1", "EmbeddingModel", false), "jude.dev", "EmbeddingModel"),
    ).toBeUndefined();
    expect(
      controllerOwnerKey(child("apps/v1", "ReplicaSet", true), "jude.dev", "EmbeddingModel"),
    ).toBeUndefined();
    expect(
      controllerOwnerKey(child("other.dev/v1", "EmbeddingModel", true), "jude.dev", "EmbeddingModel"),
    ).toBeUndefined();
  });

  it("build REST paths for core, grouped and cluster-scoped types", () => {
    expect(resourcePath(resourceTypes.configMap, "recs", "a")).toBe("/api/v1/namespaces/recs/configmaps/a");
    expect(resourcePath(resourceTypes.deployment)).toBe("/apis/apps/v1/deployments");
    expect(resourcePath(resourceTypes.embeddingModel, "recs")).toBe(
      "/apis/jude.dev/v1alpha1/namespaces/recs/embeddingmodels",
    );
    expect(resourcePath(resourceTypes.node, "ignored", "n1")).toBe("/api/v1/nodes/n1");
  });
});

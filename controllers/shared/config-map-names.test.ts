import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { versionRecordName } from "../embedding-model/version-record.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import {
  configMapName,
  configOwnerLabels,
  deleteSupersededConfigMaps,
  mountedConfigMaps,
  rolloutSettled,
  supersededConfigMaps,
} from "./config-map-names.ts";
import { childLabels, labelKeys } from "./labels.ts";
import { servingName } from "./names.ts";

describe("config ConfigMap names", () => {
  it("are the workload's name and the first 10 hex digits of the content hash", () => {
    const hash = "0123456789abcdef".repeat(4);
    expect(configMapName("jobs-v1-nearline", hash)).toBe("jobs-v1-nearline-0123456789");
    expect(configMapName("a".repeat(63), hash)).toHaveLength(74);
  });

  it("label a config with the workload it configures, so every one of them can be found", () => {
    expect(configOwnerLabels({ a: "b" }, "jobs-v1-nearline")).toEqual({
      a: "b",
      [labelKeys.configOf]: "jobs-v1-nearline",
    });
  });
});

describe("supersededConfigMaps", () => {
  const base = "jobs-v1-nearline";
  const current = `${base}-bbbbbbbbbb`;
  const old = `${base}-aaaaaaaaaa`;
  it.each([
    ["nothing but the current one", [current], [], true, []],
    ["an old one no pod mounts", [current, old], [current], true, [old]],
    ["an old one a live pod still mounts", [current, old], [current, old], true, []],
    ["the legacy un-suffixed name no pod mounts", [base, current], [current], true, [base]],
    ["the legacy name an old release's pod still mounts", [base, current], [base, current], true, []],
    ["anything while an older ReplicaSet may still make pods", [base, old, current], [current], false, []],
    ["the current one, even if nothing mounts it yet", [current, old], [], true, [old]],
  ])("%s", (_, existing, mounted, settled, deleted) => {
    expect(supersededConfigMaps({ current, existing, mounted: new Set(mounted), settled }).sort()).toEqual(
      [...deleted].sort(),
    );
  });
});

describe("mountedConfigMaps", () => {
  it("names the ConfigMaps that existing pods mount, terminating ones included", () => {
    const pods = [
      {
        spec: {
          volumes: [
            { name: "config", configMap: { name: "a" } },
            { name: "tmp", emptyDir: {} },
          ],
        },
      },
      {
        metadata: { deletionTimestamp: new Date() },
        spec: { volumes: [{ name: "config", configMap: { name: "b" } }] },
      },
      {},
    ];
    expect([...mountedConfigMaps(pods)].sort()).toEqual(["a", "b"]);
  });

  it("leaves out pods that ended (an evicted pod stays, Failed, until the pod GC: it runs nothing again)", () => {
    const pods = [
      { spec: { volumes: [{ name: "config", configMap: { name: "a" } }] }, status: { phase: "Running" } },
      {
        spec: { volumes: [{ name: "config", configMap: { name: "evicted" } }] },
        status: { phase: "Failed", reason: "Evicted" },
      },
      {
        spec: { volumes: [{ name: "config", configMap: { name: "done" } }] },
        status: { phase: "Succeeded" },
      },
    ];
    expect([...mountedConfigMaps(pods)].sort()).toEqual(["a"]);
  });
});

describe("rolloutSettled", () => {
  const deployment = (generation: number, status: Record<string, number>, replicas = 2) => ({
    metadata: { generation },
    spec: { replicas },
    status,
  });
  const done = { observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2 };
  it.each([
    ["rolled out", deployment(3, done), true],
    ["a new template not yet seen by the controller", deployment(4, done), false],
    ["old pods still there", deployment(3, { ...done, replicas: 3 }), false],
    ["new pods not all made", deployment(3, { ...done, updatedReplicas: 1, replicas: 1 }), false],
    [
      "new pods not available (an old ReplicaSet keeps its replicas)",
      deployment(3, { ...done, availableReplicas: 1 }),
      false,
    ],
    ["scaled to zero", deployment(3, { observedGeneration: 3 }, 0), true],
    [
      // A paused Deployment makes no ReplicaSet for a new template: scaled up, it gives the replicas to
      // its newest older ReplicaSet, whose pods mount that template's config.
      "paused at zero replicas after a new template",
      { ...deployment(3, { observedGeneration: 3 }, 0), spec: { replicas: 0, paused: true } },
      false,
    ],
    ["no Deployment", undefined, false],
  ])("%s", (_, object, settled) => {
    expect(rolloutSettled(object)).toBe(settled);
  });
});

describe("deleteSupersededConfigMaps", () => {
  // The un-suffixed name of releases before content addressing is looked up by name, and a version is
  // any DNS label: serving `<model>-<version>` of version `v1-record` is the name of version v1's record.
  it("takes an object of that name for the legacy config only if it carries the workload's labels", async () => {
    const model = "minilm";
    const owner = { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name: model, uid: "model-uid" };
    const object = (name: string, labels: Record<string, string>): KubeObject => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace: "ns", labels, ownerReferences: [{ ...owner, controller: true }] },
    });
    const base = servingName(model, "v1-record");
    const serving = childLabels("serving", { model, embeddingVersion: "v1-record" });
    const record = object(
      versionRecordName(model, "v1"),
      childLabels("version-record", { model, embeddingVersion: "v1" }).labels,
    );
    const legacy = object(base, serving.labels);
    const current = `${base}-bbbbbbbbbb`;
    const settled = {
      metadata: { generation: 2 },
      spec: { replicas: 1 },
      status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
    };
    const deletes = async (configMaps: KubeObject[]) => {
      const { context, calls } = fakeContext({ namespace: "ns", name: model }, { ConfigMap: configMaps });
      await deleteSupersededConfigMaps(context, {
        namespace: "ns",
        base,
        current,
        ownerUid: "model-uid",
        selector: serving.selector,
        deployment: settled,
        pods: [],
      });
      return calls.flatMap((call) => (call.verb === "delete" ? [call.name] : []));
    };
    expect(record.metadata!.name).toBe(base);
    expect(await deletes([record, object(current, configOwnerLabels(serving.labels, base))])).toEqual([]);
    expect(await deletes([legacy, object(current, configOwnerLabels(serving.labels, base))])).toEqual([base]);
  });
});

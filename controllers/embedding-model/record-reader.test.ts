import { describe, expect, it } from "vitest";
import { parseEmbeddingModel } from "../../crds/index.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import { setPath, stored, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { readVersionRecords, versionsNamedBy } from "./record-reader.ts";
import { desiredVersionRecord, recordedSpec } from "./version-record.ts";

/** `context` with its live reads counted by name. */
function countingGets(context: ReconcileContext): string[] {
  const gets: string[] = [];
  const getLive = context.client.getLive.bind(context.client);
  context.client.getLive = (type, key) => {
    gets.push(`${type.kind}/${key.name}`);
    return getLive(type, key);
  };
  return gets;
}

/** A model at minilm-v9 whose status lists v1..v9 (v1..v8 Retained), with a record for each. */
function modelWithRetained() {
  const raw = stored("embedding-model.yaml", "model-uid");
  const versions = Array.from({ length: 9 }, (_, index) => `minilm-v${index + 1}`);
  const records = versions.map((version) => {
    const each = parseEmbeddingModel(structuredClone(raw));
    each.spec.version = version;
    return desiredVersionRecord(each, {
      version,
      spec: recordedSpec(each),
      promotionStartTime: "2026-12-01T00:00:00Z",
      activatedTime: "2026-12-01T01:00:00Z",
      workers: false,
    }) as KubeObject;
  });
  setPath(raw, "spec.version", "minilm-v9");
  setPath(raw, "status", {
    observedGeneration: 1,
    activeVersion: "minilm-v9",
    versions: versions.map((version) => ({
      version,
      phase: version === "minilm-v9" ? "Active" : "Retained",
    })),
  });
  return { raw, model: parseEmbeddingModel(raw), records };
}

describe("readVersionRecords with the versions a model names", () => {
  it("reads each record once per reconcile however many Retained versions the status lists", async () => {
    const { raw, model, records } = modelWithRetained();
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jobs" },
      { EmbeddingModel: [raw as KubeObject], ConfigMap: records },
    );
    const gets = countingGets(context);
    const read = await readVersionRecords(context, model.metadata, versionsNamedBy(model));
    expect(read.map((record) => record.version).sort()).toEqual(
      records.map((record) => record.metadata!.name!.replace(/^jude-minilm-(.*)-record$/, "$1")).sort(),
    );
    // One GET per record (the cache keeps no ConfigMap data), none twice for a name both listed by
    // label and named by the model.
    expect(gets).toHaveLength(9);
    expect(new Set(gets).size).toBe(9);
  });

  it("ignores a record of the right name, without labels, that another model owns", async () => {
    const { raw, model, records } = modelWithRetained();
    const foreign = structuredClone(records[0]!);
    delete foreign.metadata!.labels;
    foreign.metadata!.ownerReferences = foreign.metadata!.ownerReferences!.map((owner) => ({
      ...owner,
      uid: "earlier-model-uid",
    }));
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jobs" },
      { EmbeddingModel: [raw as KubeObject], ConfigMap: [foreign, ...records.slice(1)] },
    );
    const read = await readVersionRecords(context, model.metadata, versionsNamedBy(model));
    expect(read.map((record) => record.version)).not.toContain("minilm-v1");
    expect(read).toHaveLength(8);
  });
});

describe("readVersionRecords adopting orphaned records", () => {
  // `kubectl delete --cascade=orphan` of the model removes its owner references from its children and
  // leaves them running: applied again, the model adopts its records (and, applied, its workloads)
  // as a Deployment adopts its orphaned ReplicaSets; a record another object controls stays foreign.
  it("reads a record no object controls when adopting, and not otherwise", async () => {
    const { raw, model, records } = modelWithRetained();
    const orphan = structuredClone(records[0]!);
    delete orphan.metadata!.ownerReferences;
    const foreign = structuredClone(records[1]!);
    foreign.metadata!.ownerReferences = foreign.metadata!.ownerReferences!.map((owner) => ({
      ...owner,
      uid: "earlier-model-uid",
    }));
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jobs" },
      { EmbeddingModel: [raw as KubeObject], ConfigMap: [orphan, foreign] },
    );
    const adopted = await readVersionRecords(context, model.metadata, versionsNamedBy(model), {
      adoptOrphans: true,
    });
    expect(adopted.map((record) => record.version)).toEqual(["minilm-v1"]);
    expect(await readVersionRecords(context, model.metadata, versionsNamedBy(model))).toEqual([]);
  });
});

describe("readVersionRecords adopting only this model's orphaned records", () => {
  // Record names join model and version with '-': model `jude` at `minilm-v1` and model `jude-minilm`
  // at `v1` both name `jude-minilm-v1-record`. Owned records are told apart by uid; an orphan has
  // none, so adopting `jude`'s record would give `jude-minilm` a version it never had (minilm-v1,
  // served with `jude`'s model file and prompts, under a record of its own).
  it("leaves an orphaned record of another model whose name collides with one this model names", async () => {
    const { raw, model } = modelWithRetained();
    const other = parseEmbeddingModel(structuredClone(raw));
    other.metadata.name = "jude";
    other.spec.version = "minilm-v1";
    const colliding = desiredVersionRecord(other, {
      version: "minilm-v1",
      spec: recordedSpec(other),
      promotionStartTime: "2026-12-01T00:00:00Z",
    }) as KubeObject;
    delete colliding.metadata!.ownerReferences;
    expect(colliding.metadata!.name).toBe("jude-minilm-v1-record");
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jobs" },
      { EmbeddingModel: [raw as KubeObject], ConfigMap: [colliding] },
    );
    const read = await readVersionRecords(context, model.metadata, ["v1"], { adoptOrphans: true });
    expect(read).toEqual([]);
  });
});

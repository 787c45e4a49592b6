import { describe, expect, it, vi } from "vitest";
import type { EmbeddingModel } from "../../crds/index.ts";
import type { Store } from "../../store/index.ts";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext, type RecordedCall } from "../nearline-pipeline/fake-context.ts";
import {
  setPath,
  stored,
  testModel,
  testNamespace,
  testPipeline,
} from "../nearline-pipeline/test-objects.ts";
import { childLabels } from "../shared/labels.ts";
import { promotionBootstrapRunName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";
import { imagesFor } from "../shared/image.ts";
import { actOnPromotion } from "./promotion-act.ts";
import type { PromotionDecision } from "./promotion.ts";
import { desiredVersionRecord, recordedSpec } from "./version-record.ts";

/** Options of a model without a store; `secrets` as the reconcile read them, none by default. */
const options = {
  store: undefined,
  images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
  pipelines: [],
  specBlocked: false,
  reconcileStartedAtMs: 0,
  changelogPartitions: async () => 1,
  secrets: Object.assign(new Map(), { versions: new Map() }),
};

describe("actOnPromotion", () => {
  // A replica stopped (SIGSTOP) after deciding a flip resumes with the decision in hand; meanwhile
  // another replica took the Lease and may have decided otherwise (the spec was set back). The store's
  // compare-and-set (expected current) passes all the same, so the store write itself must be fenced.
  it("does not switch the pointer once this replica no longer holds the leader Lease", async () => {
    const { context } = fakeContext({ namespace: testNamespace, name: "jude-minilm" }, {});
    context.fence = () => {
      throw new Error("lost the leader lease: not renewed within the renew deadline");
    };
    const evalsha = vi.fn();
    const store = { client: { evalsha }, layout: { prefix: "jude" }, keys: {} } as unknown as Store;
    const decision = {
      switchPointer: { kind: "flip", expectedCurrent: "minilm-v1", target: "minilm-v2" },
    } as unknown as PromotionDecision;
    await expect(
      actOnPromotion(context, testModel() as EmbeddingModel, decision, {
        store,
        images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
        pipelines: [],
        specBlocked: false,
        reconcileStartedAtMs: 0,
        changelogPartitions: async () => 1,
      }),
    ).rejects.toThrow(/lost the leader lease/);
    expect(evalsha).not.toHaveBeenCalled();
  });
});

describe("actOnPromotion: capacity of the versions it serves", () => {
  // v1 active with its recorded model and 2 fixed replicas; the spec promotes v2 with other weights.
  function promotingModel(serving: Record<string, unknown>): EmbeddingModel {
    return testModel((object) => {
      setPath(object, "spec.version", "minilm-v2");
      setPath(object, "spec.model.uri", "pvc://jude-models/v2/model.onnx");
      setPath(object, "spec.model.sha256", undefined);
      setPath(object, "spec.serving.autoscaling", undefined);
      for (const [field, value] of Object.entries(serving)) setPath(object, `spec.serving.${field}`, value);
    });
  }
  function decisionServing(model: EmbeddingModel): PromotionDecision {
    const activeSpec = {
      ...recordedSpec(model),
      model: { ...model.spec.model, uri: "pvc://jude-models/v1/model.onnx" },
      serving: { ...model.spec.serving, replicas: 2, autoscaling: undefined },
    };
    delete activeSpec.serving.autoscaling;
    return {
      queryVersion: "minilm-v1",
      activeVersion: "minilm-v1",
      serve: ["minilm-v1", "minilm-v2"],
      workers: [],
      collect: [],
      records: [
        {
          version: "minilm-v1",
          spec: activeSpec,
          promotionStartTime: "2026-12-01T00:00:00Z",
          activatedTime: "2026-12-01T01:00:00Z",
        },
        { version: "minilm-v2", spec: recordedSpec(model), promotionStartTime: "2026-12-02T00:00:00Z" },
      ],
    } as unknown as PromotionDecision;
  }
  // A config ConfigMap is named `<deployment>-<content hash>`.
  const applied = (calls: RecordedCall[], kind: string, name: string) =>
    calls.find(
      (call) =>
        call.verb === "apply" &&
        call.kind === kind &&
        (call.name === name ||
          (kind === "ConfigMap" && new RegExp(`^${name}-[0-9a-f]{10}$`).test(call.name))),
    ) as
      { object: KubeObject & { spec?: Record<string, unknown>; data?: Record<string, string> } } | undefined;

  // Traffic spiked during a bootstrap of hours: the active version carries every reader, so the
  // replicas the spec asks for must reach it, not only the candidate.
  it("scales the active version to the spec's replicas while a candidate is promoted", async () => {
    const model = promotingModel({ replicas: 6 });
    const { context, calls } = fakeContext({ namespace: testNamespace, name: "jude-minilm" }, {});
    await actOnPromotion(context, model, decisionServing(model), options);
    expect(applied(calls, "Deployment", "jude-minilm-minilm-v1")?.object.spec?.replicas).toBe(6);
    expect(applied(calls, "Deployment", "jude-minilm-minilm-v2")?.object.spec?.replicas).toBe(6);
    // What makes its vectors stays its own.
    expect(applied(calls, "ConfigMap", "jude-minilm-minilm-v1")?.object.data?.["jude-model.json"]).toContain(
      "v1/model.onnx",
    );
  });

  it("gives the active version the spec's autoscaling, in place of its recorded fixed size", async () => {
    const model = promotingModel({
      autoscaling: { minReplicas: 3, maxReplicas: 12, targetQueueTokens: 4096 },
    });
    const { context, calls } = fakeContext({ namespace: testNamespace, name: "jude-minilm" }, {});
    await actOnPromotion(context, model, decisionServing(model), options);
    expect(applied(calls, "Deployment", "jude-minilm-minilm-v1")?.object.spec?.replicas).toBeUndefined();
    expect(applied(calls, "HorizontalPodAutoscaler", "jude-minilm-minilm-v1")?.object.spec).toMatchObject({
      minReplicas: 3,
      maxReplicas: 12,
    });
  });
});

describe("actOnPromotion: the TLS Secret each served version reads", () => {
  const tlsSecret = (name: string, certificate: string) =>
    ({
      kind: "Secret",
      metadata: { name, namespace: testNamespace, resourceVersion: "3" },
      data: {
        "tls.crt": Buffer.from(certificate).toString("base64"),
        "tls.key": Buffer.from(`key of ${certificate}`).toString("base64"),
      },
    }) as KubeObject;
  // The spec promotes v2 under a new TLS Secret; v1, still active, serves with the Secret its record
  // names. The reconcile read only the spec's references (readReferences), so v1's Secret is not in
  // `secrets`: it must be read, not stamped `absent` (which rolls v1's pods at once and then no renewal
  // of its certificate ever does).
  async function stampOfActive(certificate: string): Promise<string | undefined> {
    const model = testModel((object) => {
      setPath(object, "spec.version", "minilm-v2");
      setPath(object, "spec.serving.tls", { secretName: "tls-v2" });
    });
    const activeSpec = {
      ...recordedSpec(model),
      serving: { ...model.spec.serving, tls: { secretName: "tls-v1" } },
    };
    const decision = {
      queryVersion: "minilm-v1",
      activeVersion: "minilm-v1",
      serve: ["minilm-v1", "minilm-v2"],
      workers: [],
      collect: [],
      records: [
        { version: "minilm-v1", spec: activeSpec, promotionStartTime: "2026-12-01T00:00:00Z" },
        { version: "minilm-v2", spec: recordedSpec(model), promotionStartTime: "2026-12-02T00:00:00Z" },
      ],
    } as unknown as PromotionDecision;
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { Secret: [tlsSecret("tls-v1", certificate), tlsSecret("tls-v2", "v2 certificate")] },
    );
    const secrets = Object.assign(
      new Map([
        [
          "tls-v2",
          new Map([
            ["tls.crt", Buffer.from("v2 certificate")],
            ["tls.key", Buffer.from("key of v2 certificate")],
          ]),
        ],
      ]),
      { versions: new Map([["tls-v2", "3"]]) },
    );
    await actOnPromotion(context, model, decision, { ...options, secrets });
    const deployment = calls.find(
      (call) => call.verb === "apply" && call.kind === "Deployment" && call.name === "jude-minilm-minilm-v1",
    ) as
      { object: { spec: { template: { metadata: { annotations: Record<string, string> } } } } } | undefined;
    return deployment?.object.spec.template.metadata.annotations["jude.dev/secret-versions"];
  }

  it("stamps an older version's pods with its own TLS Secret, so its renewal rolls them", async () => {
    const before = await stampOfActive("v1 certificate");
    expect(before).toMatch(/^tls-v1@sha256:[0-9a-f]{16}$/);
    expect(await stampOfActive("v1 certificate renewed")).not.toBe(before);
  });
});

describe("actOnPromotion: an older served version's Secrets that are missing", () => {
  // v1, still active, renders from its record, which names TLS Secret tls-v1 and token Secret
  // token-v1; the spec promotes v2 under other Secrets, which the reconcile checked (readReferences).
  async function olderVersionProblems(existing: KubeObject[]) {
    const model = testModel((object) => {
      setPath(object, "spec.version", "minilm-v2");
      setPath(object, "spec.serving.tls", { secretName: "tls-v2" });
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "token-v2", key: "token" } });
    });
    const activeSpec = {
      ...recordedSpec(model),
      serving: {
        ...model.spec.serving,
        tls: { secretName: "tls-v1" },
        auth: { tokenSecretRef: { name: "token-v1", key: "token" } },
      },
    };
    const decision = {
      queryVersion: "minilm-v1",
      activeVersion: "minilm-v1",
      serve: ["minilm-v1", "minilm-v2"],
      workers: [],
      collect: [],
      records: [
        { version: "minilm-v1", spec: activeSpec, promotionStartTime: "2026-12-01T00:00:00Z" },
        { version: "minilm-v2", spec: recordedSpec(model), promotionStartTime: "2026-12-02T00:00:00Z" },
      ],
    } as unknown as PromotionDecision;
    // The model claim both versions read exists: only the Secrets are in question here.
    const claim = {
      kind: "PersistentVolumeClaim",
      metadata: { name: "jude-models", namespace: testNamespace },
    };
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { Secret: existing, PersistentVolumeClaim: [claim as KubeObject] },
    );
    const acted = await actOnPromotion(context, model, decision, options);
    // Nothing held back: both versions' objects are applied as before.
    const applied = calls.filter(
      (call): call is Extract<RecordedCall, { verb: "apply" }> => call.verb === "apply",
    );
    expect(applied.filter((call) => call.kind === "Deployment").map((call) => call.name)).toEqual([
      "jude-minilm-minilm-v1",
      "jude-minilm-minilm-v2",
    ]);
    return acted.olderVersionProblems;
  }
  const secret = (name: string, keys: string[]) =>
    ({
      kind: "Secret",
      metadata: { name, namespace: testNamespace, resourceVersion: "3" },
      data: Object.fromEntries(keys.map((key) => [key, Buffer.from(`${name} ${key}`).toString("base64")])),
    }) as KubeObject;

  it("names v1's TLS and token Secrets when they are gone (the spec's own are not its to say)", async () => {
    const problems = await olderVersionProblems([]);
    expect(problems.map(({ version, reason }) => ({ version, reason }))).toEqual([
      { version: "minilm-v1", reason: "SecretNotFound" },
      { version: "minilm-v1", reason: "SecretNotFound" },
    ]);
    expect(problems[0]!.message).toContain(
      "Secret tls-v1 (spec.serving.tls.secretName in the version's record)",
    );
    expect(problems[1]!.message).toContain(
      "Secret token-v1 (spec.serving.auth.tokenSecretRef in the version's record)",
    );
  });

  it("says nothing once they exist with the keys the pods read", async () => {
    expect(
      await olderVersionProblems([secret("tls-v1", ["tls.crt", "tls.key"]), secret("token-v1", ["token"])]),
    ).toEqual([]);
  });
});

describe("actOnPromotion: the spec's version served from its record (VersionRedefined)", () => {
  // The spec reuses version name minilm-v1 for another definition: minilm-v1 keeps serving as its
  // record says, mounting TLS Secret tls-v1, while the spec names tls-v2 (checked before deciding).
  it("says the record's Secret its pods mount when it is missing, not the spec's", async () => {
    const model = testModel((object) => {
      setPath(object, "spec.version", "minilm-v1");
      setPath(object, "spec.serving.tls", { secretName: "tls-v2" });
    });
    const recorded = {
      ...recordedSpec(model),
      serving: { ...model.spec.serving, tls: { secretName: "tls-v1" } },
    };
    const decision = {
      queryVersion: "minilm-v1",
      activeVersion: "minilm-v1",
      serve: ["minilm-v1"],
      workers: [],
      collect: [],
      records: [{ version: "minilm-v1", spec: recorded, promotionStartTime: "2026-12-01T00:00:00Z" }],
    } as unknown as PromotionDecision;
    const claim = {
      kind: "PersistentVolumeClaim",
      metadata: { name: "jude-models", namespace: testNamespace },
    };
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { Secret: [], PersistentVolumeClaim: [claim as KubeObject] },
    );
    const acted = await actOnPromotion(context, model, decision, options);
    expect(acted.olderVersionProblems.map(({ version, reason }) => ({ version, reason }))).toEqual([
      { version: "minilm-v1", reason: "SecretNotFound" },
    ]);
    expect(acted.olderVersionProblems[0]!.message).toContain(
      "Secret tls-v1 (spec.serving.tls.secretName in the version's record)",
    );
  });
});

describe("actOnPromotion: an orphaned record the decision no longer keeps", () => {
  // The model deleted with --cascade=orphan mid-promotion of v2 and applied again at v3: v2's orphaned
  // record is adopted (read as this model's, record-reader.ts) and superseded. Left, it is read again
  // on every reconcile, and v2 decided superseded (its vectors collected) again and again.
  it("deletes it like an owned one, and leaves a record another object controls", async () => {
    const model = testModel((object) => setPath(object, "spec.version", "minilm-v3"));
    const recordOf = (version: string, owners: unknown) => {
      const configMap = desiredVersionRecord(model, {
        version,
        spec: recordedSpec(model),
        promotionStartTime: "2026-12-02T00:00:00Z",
      }) as KubeObject;
      configMap.metadata!.ownerReferences = owners as never;
      return configMap;
    };
    const orphan = recordOf("minilm-v2", undefined);
    const foreign = recordOf("minilm-v1", [
      { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name: "x", uid: "other", controller: true },
    ]);
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { ConfigMap: [orphan, foreign] },
    );
    const decision = {
      queryVersion: "minilm-v3",
      serve: [],
      workers: [],
      collect: [],
      records: [
        { version: "minilm-v3", spec: recordedSpec(model), promotionStartTime: "2026-12-03T00:00:00Z" },
      ],
    } as unknown as PromotionDecision;
    await actOnPromotion(context, model, decision, options);
    const deleted = calls.filter((call) => call.verb === "delete").map((call) => `${call.kind}/${call.name}`);
    expect(deleted).toContain("ConfigMap/jude-minilm-minilm-v2-record");
    expect(deleted).not.toContain("ConfigMap/jude-minilm-minilm-v1-record");
  });
});

describe("actOnPromotion: a BootstrapRun orphaned with the model (kubectl delete --cascade=orphan)", () => {
  const model = testModel((object) => setPath(object, "spec.version", "minilm-v2"));
  const pipeline = testPipeline();
  // The run the deleted model made for v2, its shards still running, its owner reference removed.
  const orphanedRun = (version: string, made = true): KubeObject => {
    const run = stored("bootstrap-run.yaml", `run-${version}-${String(made)}`, (object) => {
      setPath(
        object,
        "metadata.name",
        made ? promotionBootstrapRunName("jobs", version) : `by-hand-${version}`,
      );
      setPath(object, "spec.modelVersion", version);
      setPath(object, "spec.pipelineRef.name", pipeline.metadata.name);
      setPath(object, "spec.parallelism", 3);
      if (made)
        setPath(
          object,
          "metadata.labels",
          childLabels("bootstrap", {
            model: model.metadata.name,
            embeddingVersion: version,
            pipeline: pipeline.metadata.name,
          }).labels,
        );
    });
    return run as KubeObject;
  };
  const record = (version: string) => ({
    version,
    spec: recordedSpec(model),
    promotionStartTime: "2026-12-01T00:00:00Z",
  });
  const act = async (decision: Partial<PromotionDecision>, runs: KubeObject[]) => {
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { BootstrapRun: runs },
    );
    const base = { queryVersion: "minilm-v1", serve: [], workers: [], collect: [], records: [] };
    await actOnPromotion(context, model, { ...base, ...decision } as unknown as PromotionDecision, {
      ...options,
      pipelines: [pipeline],
    });
    return calls;
  };

  // Adopted like the records and Deployments: deleting the model again collects it, and it counts as
  // the model's writer of v2 (promotion-observe.ts writersPresent).
  it("adopts the candidate's run, as it is (its shard count kept), under the model's owner reference", async () => {
    const calls = await act({ bootstrap: "minilm-v2", records: [record("minilm-v2")] }, [
      orphanedRun("minilm-v2"),
    ]);
    const applied = calls.find((call) => call.verb === "apply" && call.kind === "BootstrapRun");
    expect(applied).toMatchObject({
      name: "jobs-minilm-v2-promotion",
      object: { metadata: { ownerReferences: [controllerRef(model)] }, spec: { parallelism: 3 } },
    });
  });

  // Was: no resources at all, so shards ran without requests or limits and no field could change it.
  it("creates a run where the pipeline has none, its shards given the pipeline's worker resources", async () => {
    const calls = await act({ bootstrap: "minilm-v2", records: [record("minilm-v2")] }, []);
    const created = calls.find((call) => call.verb === "apply" && call.kind === "BootstrapRun");
    expect(created).toMatchObject({
      name: "jobs-minilm-v2-promotion",
      object: { spec: { parallelism: 1, resources: pipeline.spec.workers.resources } },
    });
    expect(pipeline.spec.workers.resources).toMatchObject({ limits: { memory: "1Gi" } });
  });

  // Its resources are immutable: the pipeline's, changed since, would have the apply refused.
  it("adopts the candidate's run with its own resources, or none, not the pipeline's", async () => {
    const withResources = orphanedRun("minilm-v2");
    setPath(withResources, "spec.resources", { requests: { cpu: "2", memory: "4Gi" } });
    const adopted = async (run: KubeObject) =>
      (
        (await act({ bootstrap: "minilm-v2", records: [record("minilm-v2")] }, [run])).find(
          (call) => call.verb === "apply" && call.kind === "BootstrapRun",
        ) as unknown as { object: { spec: { resources?: unknown } } }
      ).object;
    expect(pipeline.spec.workers.resources).toBeDefined();
    expect((await adopted(withResources)).spec.resources).toEqual({ requests: { cpu: "2", memory: "4Gi" } });
    const withoutResources = orphanedRun("minilm-v2");
    delete (withoutResources.spec as { resources?: unknown }).resources;
    expect((await adopted(withoutResources)).spec).not.toHaveProperty("resources");
  });

  // Applied again at v3: v2 superseded; its orphaned run is deleted like an owned one (its shards
  // would go on writing v2's vectors), a run made by hand is left.
  it("deletes a superseded version's orphaned run, not one made by hand", async () => {
    const calls = await act({ records: [record("minilm-v1")] }, [
      orphanedRun("minilm-v2"),
      orphanedRun("minilm-v2", false),
    ]);
    expect(calls.filter((call) => call.verb === "delete").map((call) => `${call.kind}/${call.name}`)).toEqual(
      ["BootstrapRun/jobs-minilm-v2-promotion"],
    );
  });
});

import { describe, expect, it } from "vitest";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { imagesFor } from "../shared/image.ts";
import { fakeContext, summarizeCalls, type RecordedCall } from "./fake-context.ts";
import { FiguresSampler } from "./figures-sampler.ts";
import { nearlinePipelineController } from "./controller.ts";
import { reconcileNearlinePipeline } from "./reconcile.ts";
import { parseEmbeddingModel } from "../../crds/index.ts";
import { desiredVersionRecord, recordedSpec } from "../embedding-model/version-record.ts";
import { movedToMinilmV2, setPath, stored, testNamespace } from "./test-objects.ts";
import type { WorkerFigures } from "./worker-figures.ts";
import { notReconciledConditions } from "../shared/test-conditions.ts";

const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");
const key = { namespace: testNamespace, name: "jobs" };

const secret: KubeObject = {
  kind: "Secret",
  metadata: { name: "jude-redis", namespace: testNamespace },
  data: { url: Buffer.from("redis://redis:6379").toString("base64") },
};
const retired: KubeObject = {
  kind: "Deployment",
  metadata: {
    name: "jobs-minilm-v0-nearline",
    namespace: testNamespace,
    labels: {
      "app.kubernetes.io/name": "jude",
      "app.kubernetes.io/component": "nearline",
      "jude.dev/model": "jude-minilm",
      "jude.dev/pipeline": "jobs",
      "jude.dev/version": "minilm-v0",
    },
    ownerReferences: [
      {
        apiVersion: "jude.dev/v1alpha1",
        kind: "NearlinePipeline",
        name: "jobs",
        uid: "pipeline-uid",
        controller: true,
      },
    ],
  },
};

async function reconcile(
  objects: Record<string, KubeObject[]>,
  probe: (pod: V1Pod, signal: AbortSignal) => Promise<WorkerFigures> = async () => ({}),
): Promise<RecordedCall[]> {
  const { context, calls } = fakeContext(key, objects);
  await reconcileNearlinePipeline(context, { images, probe });
  return calls;
}

/** A running worker pod of version minilm-v1 of the jobs pipeline. */
const workerPod: KubeObject = {
  kind: "Pod",
  metadata: {
    name: "jobs-minilm-v1-nearline-0",
    namespace: testNamespace,
    labels: { ...retired.metadata!.labels!, "jude.dev/version": "minilm-v1" },
  },
};

/** The jobs pipeline with its model and store Secret, and that running worker pod. */
const pipelineWithWorker = () => ({
  NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
  EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
  Secret: [secret],
  Pod: [workerPod],
});

// The record of `model`'s version, its promotion begun (and activated at `activatedTime` when given),
// its workers running.
const workersRecord = (model: ReturnType<typeof parseEmbeddingModel>, activatedTime?: string) =>
  desiredVersionRecord(model, {
    version: model.spec.version,
    spec: recordedSpec(model),
    promotionStartTime: "2026-12-01T00:00:00Z",
    ...(activatedTime === undefined ? {} : { activatedTime }),
    workers: true,
  }) as KubeObject;

/** The status of the reconcile's final status write. */
function writtenStatus(calls: readonly RecordedCall[]) {
  const write = calls.findLast((call) => call.verb === "applyStatus");
  if (write?.verb !== "applyStatus") throw new Error("the reconcile must write a status");
  return write.status;
}

/** The conditions of the reconcile's final status write. */
function writtenConditions(calls: readonly RecordedCall[]) {
  return writtenStatus(calls).conditions as {
    type: string;
    status: string;
    reason: string;
    message: string;
  }[];
}

/** A worker's /readyz totals: 10 records consumed and embedded, `sourceRecordsLost` lost to retention. */
const lossCounts = (sourceRecordsLost: number) => ({
  consumed: 10,
  embedded: 10,
  skippedUnchanged: 0,
  deleted: 0,
  deadLettered: 0,
  sourceRecordsLost,
});

/**
 * One reconcile by `definition` (the controller as the operator registers it) of the jobs pipeline
 * with its worker, the pipeline's UID `uid` and status as the cache shows it `status`, and `pods`
 * when given; the calls it made and the status it wrote.
 */
async function reconcileAs(
  definition: ReturnType<typeof nearlinePipelineController>,
  status: Record<string, unknown> | undefined,
  options: { uid?: string; pods?: KubeObject[] } = {},
) {
  const pipeline = stored("nearline-pipeline-jobs.yaml", options.uid ?? "pipeline-uid", (object) => {
    if (status !== undefined) object.status = status;
  }) as KubeObject;
  const { context, calls } = fakeContext(key, {
    ...pipelineWithWorker(),
    NearlinePipeline: [pipeline],
    ...(options.pods !== undefined ? { Pod: options.pods } : {}),
  });
  await definition.reconcile(context);
  return { calls, written: writtenStatus(calls) };
}

/** Version minilm-v1's worker Deployment, rolled out with `replicas`, `ready` of them ready. */
function workerDeployment(replicas: number, ready: number): KubeObject {
  return {
    kind: "Deployment",
    metadata: {
      name: "jobs-minilm-v1-nearline",
      namespace: testNamespace,
      generation: 1,
      labels: workerPod.metadata!.labels!,
    },
    spec: { replicas },
    status: { observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: ready },
  } as KubeObject;
}

describe("reconcileNearlinePipeline", () => {
  // The workers read only ca.crt of the serving TLS Secret, once at start. cert-manager writes that
  // Secret at every renewal (a new tls.crt and tls.key, new annotations) with the same CA: those writes
  // must not roll every worker; a new CA must.
  it("rolls the workers when the serving CA they read changes, not at every write of its Secret", async () => {
    const tlsSecret = (resourceVersion: string, data: Record<string, string>, annotations = {}) => ({
      kind: "Secret",
      metadata: { name: "jude-serving-tls", namespace: testNamespace, resourceVersion, annotations },
      data: Object.fromEntries(
        Object.entries(data).map(([name, value]) => [name, Buffer.from(value).toString("base64")]),
      ),
    });
    const template = async (tls: KubeObject) => {
      const calls = await reconcile({
        NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
        EmbeddingModel: [
          stored("embedding-model.yaml", "model-uid", (object) =>
            setPath(object, "spec.serving.tls", { secretName: "jude-serving-tls" }),
          ) as KubeObject,
        ],
        Secret: [secret, tls],
      });
      const applied = calls.find((call) => call.verb === "apply" && call.kind === "Deployment");
      if (applied?.verb !== "apply") throw new Error("the reconcile must apply the worker Deployment");
      return (applied.object as { spec: { template: unknown } }).spec.template;
    };
    const issued = { "ca.crt": "CA one", "tls.crt": "certificate one", "tls.key": "key one" };
    const before = await template(tlsSecret("5", issued));
    // A renewal: the same CA, a new certificate and key, cert-manager's annotations rewritten.
    const renewed = { ...issued, "tls.crt": "certificate two", "tls.key": "key two" };
    expect(await template(tlsSecret("6", renewed, { "cert-manager.io/certificate-revision": "2" }))).toEqual(
      before,
    );
    // A write that changes nothing at all but the resourceVersion.
    expect(await template(tlsSecret("7", issued))).toEqual(before);
    // A new CA reaches the workers, which read it only when they start.
    expect(await template(tlsSecret("8", { ...renewed, "ca.crt": "CA two" }))).not.toEqual(before);
  });

  // v1's workers run while v2 is promoted under a new TLS Secret: v1's record names the Secret its
  // servers use, and the workers verify them with that Secret's ca.crt. The reconcile must read that
  // Secret, not only the spec's: stamped `absent`, v1's workers roll at once and a new CA of their
  // servers never reaches them; and without its key names the ca.crt is assumed there.
  it("stamps an older version's workers with the CA of the TLS Secret its record names, kept once it is deleted", async () => {
    const tlsSecret = (name: string, ca: string) => ({
      kind: "Secret",
      metadata: { name, namespace: testNamespace, resourceVersion: "5" },
      data: { "ca.crt": Buffer.from(ca).toString("base64"), "tls.crt": "", "tls.key": "" },
    });
    const raw = stored("embedding-model.yaml", "model-uid", (object) => {
      setPath(object, "spec.serving.tls", { secretName: "tls-v1" });
    });
    const v1 = parseEmbeddingModel(structuredClone(raw));
    setPath(raw, "spec.version", "minilm-v2");
    setPath(raw, "spec.serving.tls", { secretName: "tls-v2" });
    const record = desiredVersionRecord(v1, {
      version: "minilm-v1",
      spec: recordedSpec(v1),
      promotionStartTime: "2026-12-01T00:00:00Z",
      workers: true,
    });
    // `ca` undefined: tls-v1 deleted, under v1's workers running with the stamp `running`.
    const stamp = async (ca: string | undefined, running?: string) => {
      const calls = await reconcile({
        NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
        EmbeddingModel: [raw as KubeObject],
        ConfigMap: [record as KubeObject],
        Secret: [
          secret,
          ...(ca === undefined ? [] : [tlsSecret("tls-v1", ca)]),
          tlsSecret("tls-v2", "CA of v2"),
        ],
        Deployment:
          running === undefined
            ? []
            : [
                {
                  kind: "Deployment",
                  metadata: { name: "jobs-minilm-v1-nearline", namespace: testNamespace },
                  spec: { template: { metadata: { annotations: { "jude.dev/secret-versions": running } } } },
                } as KubeObject,
              ],
      });
      const applied = calls.find(
        (call) =>
          call.verb === "apply" && call.kind === "Deployment" && call.name === "jobs-minilm-v1-nearline",
      );
      if (applied?.verb !== "apply") throw new Error("the reconcile must apply v1's worker Deployment");
      return (applied.object as { spec: { template: { metadata: { annotations: Record<string, string> } } } })
        .spec.template.metadata.annotations["jude.dev/secret-versions"];
    };
    const before = await stamp("CA of v1");
    expect(before).toMatch(/tls-v1@sha256:[0-9a-f]{16}/);
    expect(await stamp("another CA of v1")).not.toBe(before);
    // Deleted under running workers: stamped `absent` they would roll into a worker that cannot start
    // (its Secret volume missing); they keep their stamp. Absent from the start, it is stamped so.
    expect(await stamp(undefined, before)).toBe(before);
    expect(await stamp(undefined)).toMatch(/tls-v1@absent/);
  });

  // The store Secret created after the pipeline, with the wrong key (`uri` for `url`): the cause changes
  // from a missing Secret to a missing key, which `kubectl describe` shows as a new Warning Event.
  it("says a store Secret's missing key as SecretKeyNotFound, a turn from SecretNotFound", async () => {
    const pipeline = stored("nearline-pipeline-jobs.yaml", "pipeline-uid", (object) => {
      object.status = {
        conditions: [
          {
            type: "Stalled",
            status: "True",
            reason: "SecretNotFound",
            message:
              "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
            lastTransitionTime: "2026-12-01T10:00:00Z",
          },
        ],
      };
    }) as KubeObject;
    const wrongKey: KubeObject = {
      ...secret,
      data: { uri: Buffer.from("redis://redis:6379").toString("base64") },
    };
    const calls = await reconcile({
      NearlinePipeline: [pipeline],
      EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
      Secret: [wrongKey],
    });
    const said =
      "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names key url of Secret jude-redis, which has no such key";
    expect(writtenConditions(calls).find((entry) => entry.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "SecretKeyNotFound",
      message: said,
    });
    expect(calls.filter((call) => call.verb === "event")).toEqual([
      { verb: "event", type: "Warning", reason: "SecretKeyNotFound", message: said },
    ]);
  });

  // v1's workers run beside v2's during v2's promotion, rendered from v1's record, whose token Secret
  // today's spec no longer names. That Secret missing: v1's running workers go on, but one that stops
  // cannot start again. Said on the pipeline's conditions and in one Warning Event; both versions'
  // workers are applied as before; gone once the Secret is back.
  it("says an older version's missing token Secret without holding back either version's workers", async () => {
    const raw = stored("embedding-model.yaml", "model-uid", (object) => {
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "token-v1", key: "token" } });
    });
    const v1 = parseEmbeddingModel(structuredClone(raw));
    setPath(raw, "spec.version", "minilm-v2");
    setPath(raw, "spec.serving.auth", undefined);
    const v2 = parseEmbeddingModel(structuredClone(raw));
    const said =
      "version minilm-v1's workers mount Secret token-v1 (spec.serving.auth.tokenSecretRef in the version's record), which does not exist: its running workers keep working, but a worker that stops cannot start again until the Secret is restored";
    const objects = (secrets: KubeObject[]) => ({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      EmbeddingModel: [raw as KubeObject],
      ConfigMap: [workersRecord(v1), workersRecord(v2)],
      Secret: [secret, ...secrets],
    });
    const missing = await reconcile(objects([]));
    for (const name of ["jobs-minilm-v1-nearline", "jobs-minilm-v2-nearline"])
      expect(missing.some((call) => call.verb === "apply" && call.name === name)).toBe(true);
    const conditions = writtenConditions(missing);
    expect(conditions.find((entry) => entry.type === "Reconciling")).toMatchObject({
      status: "True",
      reason: "RollingOut",
      message: expect.stringContaining(`; ${said}`),
    });
    expect(conditions.find((entry) => entry.type === "Ready")?.message).toContain(said);
    expect(missing.filter((call) => call.verb === "event")).toEqual([
      { verb: "event", type: "Warning", reason: "SecretNotFound", message: said },
    ]);

    // Said once: a reconcile that finds it said in the previous Ready condition emits no Event again.
    const told = objects([]);
    told.NearlinePipeline[0] = { ...told.NearlinePipeline[0]!, status: { conditions } };
    expect((await reconcile(told)).filter((call) => call.verb === "event")).toEqual([]);

    const token: KubeObject = {
      kind: "Secret",
      metadata: { name: "token-v1", namespace: testNamespace },
      data: { token: Buffer.from("t").toString("base64") },
    };
    const back = await reconcile(objects([token]));
    expect(writtenConditions(back).every((entry) => !entry.message.includes("token-v1"))).toBe(true);
    expect(back.filter((call) => call.verb === "event")).toEqual([]);
  });

  // v2 is active and v1 drains (its record says its workers run) when someone removes the labels from
  // v1's record. Was: the records were found by label only, v1 looked retired and its workers were
  // deleted until the model's next reconcile labelled the record again (up to its 30 s resync).
  it("keeps a Draining version's workers when its record's labels were removed by hand", async () => {
    const raw = stored("embedding-model.yaml", "model-uid");
    const v1 = parseEmbeddingModel(structuredClone(raw));
    movedToMinilmV2(raw, "Draining");
    const v2 = parseEmbeddingModel(structuredClone(raw));
    const unlabelled = workersRecord(v1, "2026-12-01T01:00:00Z");
    delete unlabelled.metadata!.labels;
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      EmbeddingModel: [raw as KubeObject],
      ConfigMap: [unlabelled, workersRecord(v2, "2026-12-01T01:00:00Z")],
      Secret: [secret],
      // v1's running workers.
      Deployment: [
        {
          ...retired,
          metadata: {
            ...retired.metadata,
            name: "jobs-minilm-v1-nearline",
            labels: { ...retired.metadata!.labels, "jude.dev/version": "minilm-v1" },
          },
        },
      ],
    });
    const touched = summarizeCalls(calls).filter((call) => call.includes("minilm-v1-nearline"));
    expect(touched).toContain("apply Deployment/jobs-minilm-v1-nearline");
    expect(touched.filter((call) => call.startsWith("delete"))).toEqual([]);
  });

  // The reconcile after the one that deleted v0's workers can start before the cache saw the deletion
  // (its trigger, the pipeline's status write, came first): it deletes them again, the API server
  // answers 404, and nothing was removed this time, so nothing is told (one Event per deletion).
  it("tells no WorkersRemoved when the workers were already gone (the cache behind the deletion)", async () => {
    const { context, calls } = fakeContext(key, {
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
      Secret: [secret],
      Deployment: [retired],
    });
    const deleteOnce = context.client.delete.bind(context.client);
    context.client.delete = async (type, at) => {
      await deleteOnce(type, at);
      return false;
    };
    await reconcileNearlinePipeline(context, { images, probe: async () => ({}) });
    expect(summarizeCalls(calls)).toContain("delete Deployment/jobs-minilm-v0-nearline");
    expect(summarizeCalls(calls)).not.toContain("event Normal WorkersRemoved");
  });

  // A version the model still records (Retained for a rollback) whose bake period ended: its record
  // says no workers run, and the Event says that, not that the model forgot the version.
  it("tells why the workers of a recorded version went: its record says none run", async () => {
    const raw = stored("embedding-model.yaml", "model-uid");
    const v0 = parseEmbeddingModel(structuredClone(raw));
    v0.spec.version = "minilm-v0";
    const retainedRecord = desiredVersionRecord(v0, {
      version: "minilm-v0",
      spec: recordedSpec(v0),
      promotionStartTime: "2026-11-01T00:00:00Z",
      activatedTime: "2026-11-01T01:00:00Z",
      deactivatedTime: "2026-12-01T01:00:00Z",
      workers: false,
    }) as KubeObject;
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      EmbeddingModel: [raw as KubeObject],
      ConfigMap: [retainedRecord],
      Secret: [secret],
      Deployment: [retired],
    });
    expect(calls.filter((call) => call.verb === "event")).toEqual([
      expect.objectContaining({
        reason: "WorkersRemoved",
        message:
          "deleted the workers of version minilm-v0 (Deployment jobs-minilm-v0-nearline): EmbeddingModel jude-minilm's record of that version says no workers run (e.g. readers left it and its bake period ended)",
      }),
    ]);
  });

  it("applies the worker ConfigMap, Deployment and PDB of the live version, removes retired ones, and reports RollingOut", async () => {
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
      Secret: [secret],
      Deployment: [retired],
      PodDisruptionBudget: [{ ...retired, kind: "PodDisruptionBudget" }],
    });
    expect(
      summarizeCalls(calls).map((call) => call.replace(/-nearline-[0-9a-f]{10}$/, "-nearline-<hash>")),
    ).toEqual([
      "apply ConfigMap/jobs-minilm-v1-nearline-<hash>",
      "apply Deployment/jobs-minilm-v1-nearline",
      "apply PodDisruptionBudget/jobs-minilm-v1-nearline",
      "delete Deployment/jobs-minilm-v0-nearline",
      "event Normal WorkersRemoved",
      "delete PodDisruptionBudget/jobs-minilm-v0-nearline",
      "applyStatus NearlinePipeline/jobs",
    ]);
    // Deleting running workers is told on the pipeline, naming the version and why (the model keeps
    // no record of minilm-v0: a candidate superseded before it went live, a version it left long ago,
    // or the model was deleted and applied again).
    expect(calls.find((call) => call.verb === "event")).toMatchObject({
      reason: "WorkersRemoved",
      message:
        "deleted the workers of version minilm-v0 (Deployment jobs-minilm-v0-nearline): EmbeddingModel jude-minilm has no record of that version (a candidate superseded before readers got it, one left behind long ago, its record ConfigMap deleted, or the model deleted and applied again), so no worker of this pipeline updates its vectors from now on",
    });
    const last = calls.at(-1);
    if (last?.verb !== "applyStatus") throw new Error("the reconcile must end with a status write");
    const conditions = last.status.conditions as { type: string; status: string; reason: string }[];
    expect(conditions.find((condition) => condition.type === "Reconciling")).toMatchObject({
      status: "True",
      reason: "RollingOut",
    });
  });

  describe("collects the config ConfigMaps a rollout left behind", () => {
    const owner = retired.metadata!.ownerReferences!;
    const labels = { ...retired.metadata!.labels!, "jude.dev/version": "minilm-v1" };
    const configMap = (
      name: string,
      extra: Record<string, string> = {},
      uid = "pipeline-uid",
    ): KubeObject => ({
      kind: "ConfigMap",
      metadata: {
        name,
        namespace: testNamespace,
        labels: { ...labels, ...extra },
        ownerReferences: [{ ...owner[0]!, uid }],
      },
    });
    const base = "jobs-minilm-v1-nearline";
    const configOf = { "jude.dev/config-of": base };
    const mounting = (name: string, configMapName: string): KubeObject => ({
      ...workerPod,
      metadata: { ...workerPod.metadata, name },
      spec: { volumes: [{ name: "config", configMap: { name: configMapName } }] },
    });
    /** The deletes of one reconcile whose Deployment apply answers `status` (rolled out or not). */
    async function deletes(rolledOut: boolean): Promise<string[]> {
      const { context, calls } = fakeContext(key, {
        NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
        EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
        Secret: [secret],
        ConfigMap: [
          configMap(base), // what releases before content addressing made
          configMap(`${base}-aaaaaaaaaa`, configOf),
          configMap(`${base}-bbbbbbbbbb`, configOf),
          configMap(`${base}-cccccccccc`, configOf, "another-owner"), // never touched
        ],
        Pod: [mounting("old-0", `${base}-bbbbbbbbbb`)],
      });
      const apply = context.client.apply.bind(context.client);
      context.client.apply = async <T extends object>(object: T) => {
        const applied = (await apply(object)) as KubeObject & { spec?: { replicas?: number } };
        if (applied.kind !== "Deployment") return applied as T;
        const replicas = applied.spec?.replicas ?? 1;
        const status = rolledOut
          ? { observedGeneration: 2, replicas, updatedReplicas: replicas, availableReplicas: replicas }
          : { observedGeneration: 1, replicas, updatedReplicas: replicas, availableReplicas: replicas };
        return { ...applied, metadata: { ...applied.metadata, generation: 2 }, status } as T;
      };
      await reconcileNearlinePipeline(context, { images, probe: async () => ({}) });
      return summarizeCalls(calls).filter((call) => call.startsWith("delete ConfigMap/"));
    }

    it("deletes the superseded ones no pod mounts, the legacy un-suffixed one included, once the rollout is over", async () => {
      expect((await deletes(true)).sort()).toEqual([
        `delete ConfigMap/${base}`,
        `delete ConfigMap/${base}-aaaaaaaaaa`,
      ]);
    });

    it("deletes none while the rollout goes on (an older ReplicaSet may make pods that mount its config)", async () => {
      expect(await deletes(false)).toEqual([]);
    });
  });

  // `helm upgrade` applies the new CRDs before the new operator pod is ready (with crds.install=false
  // the README has them applied first): meanwhile the old operator reads objects carrying what the new
  // CRDs add, defaults filled in by the API server on every read, and status fields the new operator
  // wrote if it led for a while before a rollback. The API server prunes anything its CRD does not
  // declare, so a field unknown here comes from a newer release, never from a user's typo: it was
  // InvalidSpec (Stalled, Warning Events) on every object until the new pod took over.
  it("reconciles objects carrying fields a newer release's CRDs add, as before the upgrade", async () => {
    const newer = (
      file: "nearline-pipeline-jobs.yaml" | "embedding-model.yaml",
      uid: string,
      field: string,
    ) =>
      stored(file, uid, (object) => {
        setPath(object, field, 5);
        setPath(object, "status.fieldOfANewerRelease", { since: "0.2.0" });
      }) as KubeObject;
    const calls = await reconcile({
      NearlinePipeline: [
        newer("nearline-pipeline-jobs.yaml", "pipeline-uid", "spec.source.fieldOfANewerRelease"),
      ],
      EmbeddingModel: [newer("embedding-model.yaml", "model-uid", "spec.serving.fieldOfANewerRelease")],
      Secret: [secret],
    });
    expect(
      summarizeCalls(calls).map((call) => call.replace(/-nearline-[0-9a-f]{10}$/, "-nearline-<hash>")),
    ).toEqual([
      "apply ConfigMap/jobs-minilm-v1-nearline-<hash>",
      "apply Deployment/jobs-minilm-v1-nearline",
      "apply PodDisruptionBudget/jobs-minilm-v1-nearline",
      "applyStatus NearlinePipeline/jobs",
    ]);
    expect(writtenConditions(calls).find((condition) => condition.type === "Stalled")?.status).not.toBe(
      "True",
    );
  });

  it("writes only a Stalled status, and a Warning, when the model is missing", async () => {
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      Secret: [secret],
      Deployment: [retired],
    });
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ModelNotFound",
    ]);
  });

  it("says the cause in a Warning when a pipeline Stalled for another cause (not reconciled) stalls on this one", async () => {
    const notReconciled = stored("nearline-pipeline-jobs.yaml", "pipeline-uid", (object) => {
      object.status = {
        conditions: notReconciledConditions(),
      };
    }) as KubeObject;
    const calls = await reconcile({
      NearlinePipeline: [notReconciled],
      Secret: [secret],
      Deployment: [retired],
    });
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ModelNotFound",
    ]);
  });

  it("reports CaughtUp from the workers' lag against the model's maxLagSeconds", async () => {
    const objects = pipelineWithWorker();
    const caughtUp = (calls: RecordedCall[]) =>
      writtenConditions(calls).find((condition) => condition.type === "CaughtUp");
    expect(caughtUp(await reconcile(objects, async () => ({ lag: new Map([[0, 0]]) })))).toMatchObject({
      status: "True",
      reason: "CaughtUp",
      message:
        "version minilm-v1: lag 0 records, freshness p95 none: no vector written in the last minute (gate 30s)",
    });
    expect(caughtUp(await reconcile(objects, async () => ({ lag: new Map([[0, 12]]) })))).toMatchObject({
      status: "False",
      reason: "CatchingUp",
    });
    expect(caughtUp(await reconcile(objects))).toMatchObject({
      status: "Unknown",
      reason: "WaitingForWorkers",
    });
  });

  it("reads its workers' figures again within 2 s while ready workers have not reported their lag", async () => {
    const deployment = workerDeployment(1, 1);
    const readyPod = (secondsAgo: number) => ({
      ...workerPod,
      status: {
        conditions: [
          {
            type: "Ready",
            status: "True",
            lastTransitionTime: new Date(Date.now() - secondsAgo * 1000).toISOString(),
          },
        ],
      },
    });
    const next = async (probe: () => Promise<WorkerFigures>, pollMs?: number, readySecondsAgo = 5) => {
      const { context } = fakeContext(key, {
        ...pipelineWithWorker(),
        Pod: [readyPod(readySecondsAgo)],
        Deployment: [deployment],
      });
      const result = await reconcileNearlinePipeline(context, {
        images,
        probe,
        ...(pollMs !== undefined ? { pollMs } : {}),
      });
      return result?.requeueAfterMs;
    };
    // A promotion's CaughtUp gate waits on that first figure: not a whole poll (30 s by default).
    expect(await next(async () => ({}))).toBe(2_000);
    expect(await next(async () => ({}), 5_000)).toBe(2_000);
    // A worker ready for over a minute without a figure will not report within seconds (its lag
    // checks fail): the poll's pace, not a read every 2 s for ever.
    expect(await next(async () => ({}), undefined, 90)).toBe(30_000);
    // Once reported, the figures are read at the poll's pace.
    expect(await next(async () => ({ lag: new Map([[0, 0]]) }))).toBe(30_000);
    expect(await next(async () => ({ lag: new Map([[0, 0]]) }), 5_000)).toBe(5_000);
  });

  it("names the model's active version, none before its first cutover, and the LAG of the version readers get or await", async () => {
    const written = (calls: RecordedCall[]) =>
      writtenStatus(calls) as { activeVersion?: string; lag?: number };
    const lag = async () => ({ lag: new Map([[0, 12]]) });
    // The first version is still being built: readers have no version yet (no store pointer).
    const first = written(await reconcile(pipelineWithWorker(), lag));
    expect(first.activeVersion).toBeUndefined();
    expect(first.lag).toBe(12);
    const active = {
      ...pipelineWithWorker(),
      EmbeddingModel: [
        stored("embedding-model.yaml", "model-uid", (model) => {
          model.status = { observedGeneration: 1, activeVersion: "minilm-v1" };
        }) as KubeObject,
      ],
    };
    expect(written(await reconcile(active, lag))).toMatchObject({ activeVersion: "minilm-v1", lag: 12 });
  });

  it("turns Stalled DependencyUnavailable when a worker's batch has waited a minute on its store", async () => {
    const objects = pipelineWithWorker();
    const calls = await reconcile(objects, async () => ({
      lag: new Map([[0, 3]]),
      waitingOn: { dependency: "store", seconds: 75, error: "Command timed out" },
    }));
    expect(writtenConditions(calls).find((condition) => condition.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "DependencyUnavailable",
      message: expect.stringMatching(
        /^version minilm-v1: 1 of 1 workers have waited 75 s on the store \(Command timed out\)/,
      ),
    });
  });

  it("counts the workers waiting out of every running worker, ready or still starting", async () => {
    const deployment = workerDeployment(2, 1);
    const pod = (name: string, ready: boolean): KubeObject =>
      ({
        ...workerPod,
        metadata: { ...workerPod.metadata, name, uid: `${name}-uid` },
        status: {
          phase: "Running",
          podIP: "10.0.0.1",
          conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
        },
      }) as KubeObject;
    // One worker waits on Kafka at its start (not ready: /readyz 503), the other consumes and its
    // calls to the same hung broker have gone unanswered for less than a minute so far.
    const hung = (seconds: number) => ({
      dependency: "kafka",
      seconds,
      error: `no answer from kafka for ${seconds} s`,
    });
    const stalled = async (consumingSeconds: number) =>
      writtenConditions(
        await reconcile(
          {
            ...pipelineWithWorker(),
            Deployment: [deployment],
            Pod: [
              pod("jobs-minilm-v1-nearline-starting", false),
              pod("jobs-minilm-v1-nearline-consuming", true),
            ],
          },
          async (worker) => ({
            waitingOn: worker.metadata?.name?.endsWith("starting") ? hung(90) : hung(consumingSeconds),
          }),
        ),
      ).find((condition) => condition.type === "Stalled");
    expect(await stalled(30)).toMatchObject({
      status: "True",
      reason: "DependencyUnavailable",
      message: expect.stringMatching(/^version minilm-v1: 1 of 2 workers have waited 90 s on the Kafka /),
    });
    expect(await stalled(70)).toMatchObject({
      message: expect.stringMatching(/^version minilm-v1: 2 of 2 workers have waited 90 s on the Kafka /),
    });
  });

  it("counts no worker pod marked for deletion among the workers, as its Deployment does not", async () => {
    const deployment = workerDeployment(2, 2);
    const pod = (name: string, deletionTimestamp?: string): KubeObject =>
      ({
        ...workerPod,
        metadata: {
          ...workerPod.metadata,
          name,
          uid: `${name}-uid`,
          ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }),
        },
        status: {
          phase: "Running",
          podIP: "10.0.0.1",
          conditions: [{ type: "Ready", status: deletionTimestamp === undefined ? "True" : "False" }],
        },
      }) as KubeObject;
    // Its node lost, the pod answers nothing; then it is marked for deletion and stays Terminating
    // (phase Running, as last reported): the Deployment replaced it. Both others wait on a hung Kafka.
    // The figures read before the mark are not reused for the pods after it.
    const sampler = new FiguresSampler(60_000, () => 0);
    const stalled = async (lostDeletion?: string) => {
      const { context, calls } = fakeContext(key, {
        ...pipelineWithWorker(),
        Deployment: [deployment],
        Pod: [
          pod("jobs-minilm-v1-nearline-a"),
          pod("jobs-minilm-v1-nearline-b"),
          pod("jobs-minilm-v1-nearline-lost", lostDeletion),
        ],
      });
      await reconcileNearlinePipeline(context, {
        images,
        sampler,
        probe: async (worker) =>
          worker.metadata?.name?.endsWith("lost") === true
            ? {}
            : { waitingOn: { dependency: "kafka", seconds: 90, error: "no answer from kafka for 90 s" } },
      });
      return writtenConditions(calls).find((condition) => condition.type === "Stalled");
    };
    expect(await stalled()).toMatchObject({
      message: expect.stringMatching(/^version minilm-v1: 2 of 3 workers have waited 90 s on the Kafka /),
    });
    expect(await stalled("2026-12-01T00:00:00Z")).toMatchObject({
      status: "True",
      reason: "DependencyUnavailable",
      message: expect.stringMatching(/^version minilm-v1: 2 of 2 workers have waited 90 s on the Kafka /),
    });
  });

  it("keeps reporting the running workers' figures while Stalled for a missing Secret", async () => {
    const running: KubeObject = {
      ...retired,
      metadata: {
        ...retired.metadata!,
        name: "jobs-minilm-v1-nearline",
        labels: { ...retired.metadata!.labels!, "jude.dev/version": "minilm-v1" },
      },
    };
    const { Secret: _storeSecret, ...withoutSecret } = pipelineWithWorker();
    const calls = await reconcile({ ...withoutSecret, Deployment: [running] }, async () => ({
      lag: new Map([[0, 4]]),
    }));
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning SecretNotFound",
    ]);
    expect(writtenConditions(calls).find((condition) => condition.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "SecretNotFound",
    });
    expect(writtenStatus(calls)).toMatchObject({ lag: 4, versions: [{ version: "minilm-v1", lag: 4 }] });
  });

  it("reports records lost to retention and store replays in status, with one Warning per new loss", async () => {
    const objects = pipelineWithWorker();
    const figures = async (): Promise<WorkerFigures> => ({
      counts: { ...lossCounts(3), storeReplays: { replays: 1, replayedOffsets: 40, lost: 3 } },
    });
    const first = await reconcile(objects, figures);
    const status = writtenStatus(first);
    expect(status).toMatchObject({
      versions: [
        {
          version: "minilm-v1",
          sourceRecordsLost: 3,
          storeReplays: { replays: 1, replayedOffsets: 40, lost: 3 },
        },
      ],
    });
    const warnings = (calls: RecordedCall[]) =>
      summarizeCalls(calls).filter((line) => line.startsWith("event Warning"));
    expect(warnings(first)).toEqual(["event Warning SourceRecordsLost", "event Warning StoreReplayed"]);
    // The next poll reads the same totals: the status already says them, no Warning again.
    const polled = stored("nearline-pipeline-jobs.yaml", "pipeline-uid", (object) => {
      object.status = status;
    }) as KubeObject;
    expect(warnings(await reconcile({ ...objects, NearlinePipeline: [polled] }, figures))).toEqual([]);
  });

  // The controller as the operator registers it, polled by hand: it remembers what each worker
  // process (pod, process start) reported, as long as the operator runs. Each pod's worker process
  // (`state.workers`): when it started, and the records it lost since; one absent runs but does not
  // answer. `state.status` is the pipeline's status as the last poll wrote it.
  function workerLosses() {
    const state = {
      workers: {} as Record<string, { startedSeconds: number; lost: number } | undefined>,
      status: undefined as Record<string, unknown> | undefined,
    };
    const probe = async (of: V1Pod): Promise<WorkerFigures> => {
      const worker = state.workers[of.metadata!.uid!];
      return worker === undefined
        ? {}
        : { processStartSeconds: worker.startedSeconds, counts: lossCounts(worker.lost) };
    };
    const controller = () =>
      nearlinePipelineController({ images, concurrency: 1, pipelinePollMs: 1_000 }, { probe });
    const pod = (uid: string): KubeObject => ({
      ...workerPod,
      metadata: { ...workerPod.metadata, name: `jobs-minilm-v1-nearline-${uid}`, uid },
    });
    const poll = async (definition: ReturnType<typeof controller>, pods: KubeObject[]) => {
      const { calls, written } = await reconcileAs(definition, state.status, { pods });
      state.status = written;
      return {
        lost: (written.versions as { sourceRecordsLost?: number }[])[0]!.sourceRecordsLost,
        warned: calls.flatMap((call) =>
          call.verb === "event" && call.reason === "SourceRecordsLost" ? [call.message] : [],
        ),
      };
    };
    return { state, controller, pod, poll };
  }

  it("counts each worker process's losses: a restart that loses again within one poll is told in full", async () => {
    const { state, controller, pod, poll } = workerLosses();
    const operator = controller();
    state.workers = { a: { startedSeconds: 100, lost: 5 }, b: { startedSeconds: 100, lost: 2 } };
    expect(await poll(operator, [pod("a"), pod("b")])).toMatchObject({
      lost: 7,
      warned: [expect.any(String)],
    });
    // a restarted and lost 3 since (fewer than before), b restarted and lost 4 (more than before):
    // 7 new records lost, though the workers' sum stayed 7.
    state.workers = { a: { startedSeconds: 200, lost: 3 }, b: { startedSeconds: 200, lost: 4 } };
    expect(await poll(operator, [pod("a"), pod("b")])).toEqual({
      lost: 14,
      warned: [
        "version minilm-v1: 7 source records were deleted by retention before its workers read them (14 in all); their changes are not in the store",
      ],
    });
    // b is scaled away: its records stay lost, nothing new to tell. A new pod c counts all it lost.
    state.workers = { ...state.workers, c: { startedSeconds: 300, lost: 1 } };
    expect(await poll(operator, [pod("a")])).toEqual({ lost: 14, warned: [] });
    expect(await poll(operator, [pod("a"), pod("c")])).toMatchObject({
      lost: 15,
      warned: [expect.any(String)],
    });
    // The operator restarts (nothing remembered): the status is what was told, not told again.
    const restarted = controller();
    expect(await poll(restarted, [pod("a"), pod("c")])).toEqual({ lost: 15, warned: [] });
    state.workers = { ...state.workers, a: { startedSeconds: 200, lost: 5 } };
    expect(await poll(restarted, [pod("a"), pod("c")])).toMatchObject({
      lost: 17,
      warned: [expect.any(String)],
    });
  });

  it("counts across an operator restart what the workers lost while it was down, told once", async () => {
    const { state, controller, pod, poll } = workerLosses();
    state.workers = { a: { startedSeconds: 100, lost: 5 }, b: { startedSeconds: 100, lost: 2 } };
    expect(await poll(controller(), [pod("a"), pod("b")])).toMatchObject({ lost: 7 });
    // While the operator is down, a's worker restarts and loses 3 (fewer than its process before), and
    // b loses 1 more. Back up, it reads both (the status is all it has): 4 new records lost.
    state.workers = { a: { startedSeconds: 200, lost: 3 }, b: { startedSeconds: 100, lost: 3 } };
    const restarted = controller();
    expect(await poll(restarted, [pod("a"), pod("b")])).toEqual({
      lost: 11,
      warned: [
        "version minilm-v1: 4 source records were deleted by retention before its workers read them (11 in all); their changes are not in the store",
      ],
    });
    expect(await poll(restarted, [pod("a"), pod("b")])).toEqual({ lost: 11, warned: [] });
    // Down again: b does not answer at first, a restarts and loses 2. Up, a's 2 are new, and b (its
    // last read in the status) holds nothing back; b's next 1 is new when it answers.
    state.workers = { a: { startedSeconds: 300, lost: 2 } };
    const again = controller();
    expect(await poll(again, [pod("a"), pod("b")])).toMatchObject({ lost: 13, warned: [expect.any(String)] });
    state.workers = { ...state.workers, b: { startedSeconds: 100, lost: 4 } };
    expect(await poll(again, [pod("a"), pod("b")])).toMatchObject({ lost: 14, warned: [expect.any(String)] });
    // A status from before this release (totals, no last reads): as before, only the workers' sum
    // above the totals is new, nothing already counted is told again.
    const { lossReads: _reads, ...withoutReads } = (state.status!.versions as Record<string, unknown>[])[0]!;
    state.status = { ...state.status, versions: [withoutReads] };
    expect(await poll(controller(), [pod("a"), pod("b")])).toEqual({ lost: 14, warned: [] });
  });

  it("counts from the totals it wrote, not from a status the cache does not show yet, per pipeline UID", async () => {
    let lost = 5;
    const probe = async (): Promise<WorkerFigures> => ({
      processStartSeconds: 100,
      counts: lossCounts(lost),
    });
    const operator = nearlinePipelineController({ images, concurrency: 1, pipelinePollMs: 1_000 }, { probe });
    // `status` is what the cache shows: a write not seen yet (the watch behind, or a write answered
    // with an error after the API server stored it) leaves the one before.
    const poll = async (status: Record<string, unknown> | undefined, uid = "pipeline-uid") => {
      const { calls, written } = await reconcileAs(operator, status, { uid });
      return {
        status: written,
        lost: (written.versions as { sourceRecordsLost?: number }[])[0]!.sourceRecordsLost,
        warned: calls.filter((call) => call.verb === "event" && call.reason === "SourceRecordsLost").length,
      };
    };
    const first = await poll(undefined);
    expect(first).toMatchObject({ lost: 5, warned: 1 });
    // The cache still shows no status: the 5 stay counted, and are not told again.
    expect(await poll(undefined)).toMatchObject({ lost: 5, warned: 0 });
    lost = 6;
    expect(await poll(undefined)).toMatchObject({ lost: 6, warned: 1 });
    // A pipeline deleted and made again under the same name (its deletion never reconciled): its
    // status starts empty, and what the old one's totals said is not carried into it.
    lost = 0;
    expect(await poll(undefined, "pipeline-uid-2")).toMatchObject({ lost: undefined, warned: 0 });
  });

  it("keeps no last read of a worker pod that ended (evicted: Failed), its losses staying in the totals", async () => {
    const pod = (uid: string, phase = "Running"): KubeObject => ({
      ...workerPod,
      metadata: { ...workerPod.metadata, name: `jobs-minilm-v1-nearline-${uid}`, uid },
      status: { phase, podIP: "10.0.0.1" },
    });
    // As probeWorker: a pod not Running is not read.
    const probe = async (of: V1Pod): Promise<WorkerFigures> =>
      of.status?.phase !== "Running"
        ? { notRunning: true }
        : { processStartSeconds: 100, counts: lossCounts(of.metadata!.uid === "a" ? 5 : 2) };
    const operator = nearlinePipelineController({ images, concurrency: 1, pipelinePollMs: 1_000 }, { probe });
    const first = await reconcileAs(operator, undefined, { pods: [pod("a"), pod("b")] });
    const evicted = await reconcileAs(operator, first.written, { pods: [pod("a"), pod("b", "Failed")] });
    // b's process can never run again (a Failed pod stays until the pod GC collects it): its entry
    // would only take room under maxLossReads, past which a restarted operator counts less.
    expect((evicted.written.versions as Record<string, unknown>[])[0]).toMatchObject({
      sourceRecordsLost: 7,
      lossReads: [{ podUID: "a", processStartSeconds: 100, sourceRecordsLost: 5 }],
    });
  });

  it("adds to the totals it wrote while a worker is not read after a start from a status without last reads", async () => {
    const pod = (uid: string): KubeObject => ({
      ...workerPod,
      metadata: { ...workerPod.metadata, name: `jobs-minilm-v1-nearline-${uid}`, uid },
    });
    // a lost 2 more than the status of a release before counts; b runs but does not answer.
    const probe = async (of: V1Pod): Promise<WorkerFigures> =>
      of.metadata!.uid === "a" ? { processStartSeconds: 100, counts: lossCounts(9) } : {};
    const operator = nearlinePipelineController({ images, concurrency: 1, pipelinePollMs: 1_000 }, { probe });
    const upgraded = {
      versions: [{ version: "minilm-v1", readyReplicas: 2, sourceRecordsLost: 7 }],
    };
    const poll = async () => {
      // The cache keeps showing the status before the first write.
      const { calls, written } = await reconcileAs(operator, upgraded, { pods: [pod("a"), pod("b")] });
      return {
        lost: (written.versions as { sourceRecordsLost?: number }[])[0]!.sourceRecordsLost,
        warned: calls.filter((call) => call.verb === "event" && call.reason === "SourceRecordsLost").length,
      };
    };
    expect(await poll()).toEqual({ lost: 9, warned: 1 });
    expect(await poll()).toEqual({ lost: 9, warned: 0 });
  });

  it("reports CaughtUp Unknown, not measured, while Stalled", async () => {
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      Secret: [secret],
    });
    expect(writtenConditions(calls).find((condition) => condition.type === "CaughtUp")).toMatchObject({
      status: "Unknown",
      reason: "NotMeasured",
    });
  });

  describe("names why its workers are not ready, as the serving pods are named", () => {
    const deployment = workerDeployment(3, 2);
    const pod = (name: string, status: Record<string, unknown>): KubeObject =>
      ({
        ...workerPod,
        metadata: { ...workerPod.metadata, name, uid: `${name}-uid` },
        status,
      }) as KubeObject;
    const readyMessage = async (pods: KubeObject[], events: KubeObject[] = []) =>
      writtenConditions(
        await reconcile({ ...pipelineWithWorker(), Deployment: [deployment], Pod: pods, Event: events }),
      ).find((condition) => condition.type === "Ready");

    it("a worker whose readiness probe fails, with the kubelet's words from its Unhealthy Event", async () => {
      const startedAt = "2026-12-04T10:00:00Z";
      const probing = pod("jobs-minilm-v1-nearline-probing", {
        phase: "Running",
        containerStatuses: [
          {
            name: "nearline",
            ready: false,
            started: true,
            restartCount: 0,
            state: { running: { startedAt } },
          },
        ],
      });
      const unhealthy: KubeObject = {
        kind: "Event",
        metadata: { name: "probe", namespace: testNamespace },
        involvedObject: { uid: "jobs-minilm-v1-nearline-probing-uid" },
        reason: "Unhealthy",
        message: "Readiness probe failed: HTTP probe failed with statuscode: 503",
        lastTimestamp: "2026-12-04T10:01:00Z",
      } as KubeObject;
      expect(await readyMessage([probing], [unhealthy])).toMatchObject({
        status: "False",
        reason: "RollingOut",
        message:
          "version minilm-v1: Deployment jobs-minilm-v1-nearline: 2 of 3 workers ready; pod jobs-minilm-v1-nearline-probing, container nearline: running since 2026-12-04T10:00:00Z, not ready: Readiness probe failed: HTTP probe failed with statuscode: 503",
      });
    });

    it("a worker restarted once after a failed exit (not a crash loop: not Stalled)", async () => {
      const restarted = pod("jobs-minilm-v1-nearline-restarted", {
        phase: "Running",
        containerStatuses: [
          {
            name: "nearline",
            ready: false,
            restartCount: 1,
            state: { waiting: { reason: "ContainerCreating" } },
            lastState: { terminated: { exitCode: 1, reason: "Error", message: "KAFKA_UNREACHABLE\n" } },
          },
        ],
      });
      expect(await readyMessage([restarted])).toMatchObject({
        reason: "RollingOut",
        message: expect.stringMatching(
          /; pod jobs-minilm-v1-nearline-restarted, container nearline: restarted after a failed exit, not ready yet \(last exit: Error, exit code 1 \(KAFKA_UNREACHABLE\), 1 restart\)$/,
        ),
      });
    });

    it("a worker its node evicted", async () => {
      const evicted = pod("jobs-minilm-v1-nearline-evicted", {
        phase: "Failed",
        reason: "Evicted",
        message: "The node was low on resource: memory.",
        startTime: "2026-12-04T10:00:00Z",
      });
      expect(await readyMessage([evicted])).toMatchObject({
        reason: "RollingOut",
        message: expect.stringMatching(
          /; pod jobs-minilm-v1-nearline-evicted was stopped by its node: Evicted: The node was low on resource: memory\.$/,
        ),
      });
    });
  });

  it("does nothing for a pipeline that is gone", async () => {
    expect(await reconcile({})).toEqual([]);
  });
});

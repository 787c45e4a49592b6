import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext, summarizeCalls, type RecordedCall } from "../nearline-pipeline/fake-context.ts";
import { movedToMinilmV2, setPath, stored, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { parseEmbeddingModel } from "../../crds/index.ts";
import { desiredVersionRecord, recordedSpec } from "../embedding-model/version-record.ts";
import { imagesFor } from "../shared/image.ts";
import { reconcileBootstrapRun, type RunReconcileSettings } from "./reconcile.ts";
import { ReplacedJobs } from "./run-store.ts";
import { ChangelogTopicMissing } from "./run-io.ts";
import { zeroCounts, type CheckpointState } from "../../pipelines/bootstrap/checkpoint-codec.ts";

const key = { namespace: testNamespace, name: "jobs-minilm-v1" };
const watermarks = [
  { partition: 0, offset: 10 },
  { partition: 1, offset: 4 },
];

const world = (run: KubeObject, extra: Record<string, KubeObject[]> = {}) => ({
  BootstrapRun: [run],
  NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
  EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
  Secret: [
    {
      kind: "Secret",
      metadata: { name: "jude-redis", namespace: testNamespace },
      data: { url: "cmVkaXM6Ly94" },
    },
  ],
  ...extra,
});

async function reconcile(
  objects: Record<string, KubeObject[]>,
  settings: Partial<RunReconcileSettings> = {},
): Promise<RecordedCall[]> {
  const { context, calls } = fakeContext(key, objects);
  await reconcileBootstrapRun(context, {
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    captureWatermarks: async () => watermarks,
    readCheckpoints: async () => [null, null],
    ...settings,
  });
  return calls;
}

const shardsConfigMap: KubeObject = {
  kind: "ConfigMap",
  metadata: { name: "jobs-minilm-v1-bootstrap", namespace: testNamespace },
};

// The run's apply of its shards' ConfigMap, if it made one.
const appliedShardsConfigMap = (calls: RecordedCall[]) =>
  calls.find(
    (call) => call.verb === "apply" && call.kind === "ConfigMap" && call.name === "jobs-minilm-v1-bootstrap",
  ) as Extract<RecordedCall, { verb: "apply" }> | undefined;

// The run's status as the reconcile wrote it (its first status write).
const statusOf = (calls: RecordedCall[]) =>
  calls.find((call): call is Extract<RecordedCall, { verb: "applyStatus" }> => call.verb === "applyStatus")!
    .status as {
    phase: string;
    conditions: { type: string; status: string; reason: string; message: string }[];
  };

// The record of minilm-v1 as the stored model `raw` built it: promoted, activated, its workers running.
const servedRecord = (raw: ReturnType<typeof stored>) =>
  desiredVersionRecord(parseEmbeddingModel(raw), {
    version: "minilm-v1",
    spec: recordedSpec(parseEmbeddingModel(raw)),
    promotionStartTime: "2026-11-01T00:00:00Z",
    activatedTime: "2026-11-01T01:00:00Z",
    workers: true,
  }) as KubeObject;

// A reconcile of the stored run whose model's spec redefined the job prompt, with `record` as
// minilm-v1's record.
const reconcileRedefined = (record: KubeObject) =>
  reconcile({
    ...world(stored("bootstrap-run.yaml", "run-uid") as KubeObject),
    EmbeddingModel: [
      stored("embedding-model.yaml", "model-uid", (object) =>
        setPath(object, "spec.prompts.job", "Redefined: {{title}}"),
      ) as KubeObject,
    ],
    ConfigMap: [record],
  });

const runningStatus = {
  phase: "Running",
  watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
};
const runningRun = () =>
  stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = runningStatus)) as KubeObject;
/** The Job the run started with the pipeline as `world` has it, now running its shards. */
const startedJob = async (run: KubeObject, objects: Record<string, KubeObject[]> = world(run)) => {
  const job = (await reconcile(objects)).find(
    (call): call is Extract<RecordedCall, { verb: "apply" }> => call.verb === "apply" && call.kind === "Job",
  )!.object;
  return {
    ...job,
    metadata: { ...job.metadata, uid: "job-uid" },
    status: { active: 2 },
  } as KubeObject;
};

describe("reconcileBootstrapRun", () => {
  it("captures the watermarks into status before it creates the ConfigMap and the Job", async () => {
    const calls = await reconcile(world(stored("bootstrap-run.yaml", "run-uid") as KubeObject));
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus BootstrapRun/jobs-minilm-v1",
      "apply ConfigMap/jobs-minilm-v1-bootstrap",
      "apply Job/jobs-minilm-v1-bootstrap",
      "event Normal Started",
      "applyStatus BootstrapRun/jobs-minilm-v1",
      "event Normal Pending",
    ]);
    const first = calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>;
    expect(first.status).toMatchObject({
      phase: "Pending",
      watermarks: { topic: "jobs.changelog", partitions: watermarks },
    });
    const last = calls[4] as Extract<RecordedCall, { verb: "applyStatus" }>;
    expect(last.status.watermarks).toEqual(first.status.watermarks);
  });

  // The spec names a version readers use with other prompts (set back to its name after a promotion
  // began, with the candidate's prompts): the operator says VersionRedefined and keeps the version as
  // its record says — served, its workers rendering the recorded prompts. A run of that version fills
  // the same keys, so it must embed them with the recorded prompts too, not write the spec's template's
  // vectors into the version readers use.
  it("fills a version the spec redefined with the prompts its record keeps", async () => {
    const raw = stored("embedding-model.yaml", "model-uid");
    const record = servedRecord(raw);
    const configMap = appliedShardsConfigMap(await reconcileRedefined(record));
    const config = JSON.stringify(configMap?.object);
    expect(config).not.toContain("Redefined");
    expect(config).toContain(JSON.stringify(parseEmbeddingModel(raw).spec.prompts.job).slice(1, -1));
  });

  it("fills a redefined version as its record says when the record's labels were removed by hand", async () => {
    // Was: records were found by their labels only; without them the run filled the version with the
    // spec's redefined prompts (vectors the version's servers and workers do not make).
    const raw = stored("embedding-model.yaml", "model-uid");
    const record = servedRecord(raw);
    // `kubectl label configmap jude-minilm-minilm-v1-record jude.dev/model-`: no labels left to list it by.
    delete record.metadata!.labels;
    const configMap = appliedShardsConfigMap(await reconcileRedefined(record));
    expect(configMap).toBeDefined();
    expect(JSON.stringify(configMap?.object)).not.toContain("Redefined");
  });

  it("renders the shards' serving TLS from the Secret as read: ca.crt when it has one, else the system roots", async () => {
    const served = stored("embedding-model.yaml", "model-uid", (object) =>
      setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" }),
    );
    const shardConfig = async (data: Record<string, string>) => {
      const objects = world(stored("bootstrap-run.yaml", "run-uid") as KubeObject);
      const calls = await reconcile({
        ...objects,
        EmbeddingModel: [served as KubeObject],
        Secret: [
          ...objects.Secret,
          { kind: "Secret", metadata: { name: "jude-minilm-tls", namespace: testNamespace }, data },
        ],
      });
      const configMap = appliedShardsConfigMap(calls);
      return (configMap?.object.data as Record<string, string> | undefined)?.["config.yaml"];
    };
    const pair = { "tls.crt": "Y3J0", "tls.key": "a2V5" };
    // Before: the run waited, Pending SecretNotFound on ca.crt, and rendered no ConfigMap.
    const withoutCa = await shardConfig(pair);
    expect(withoutCa).toBeDefined();
    expect(withoutCa).not.toContain("caFile");
    expect(await shardConfig({ ...pair, "ca.crt": "Y2E=" })).toContain(
      "caFile: /var/run/jude/secrets/serving-ca/ca.crt",
    );
  });

  it("passes suspend to a running Job without re-rendering its template", async () => {
    const status = {
      phase: "Running",
      watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
    };
    const job: KubeObject = {
      kind: "Job",
      metadata: { name: "jobs-minilm-v1-bootstrap", namespace: testNamespace },
      spec: {
        suspend: false,
        completions: 8,
        template: { metadata: { labels: { "batch.kubernetes.io/job-name": "x" } } },
      },
      status: { active: 8 },
    };
    const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
    (run.spec as { suspend: boolean }).suspend = true;
    const calls = await reconcile(world(run, { Job: [job], ConfigMap: [shardsConfigMap] }));
    expect(summarizeCalls(calls)).toEqual([
      "apply Job/jobs-minilm-v1-bootstrap",
      "applyStatus BootstrapRun/jobs-minilm-v1",
      "event Normal Suspended",
    ]);
    const applied = (calls[0] as Extract<RecordedCall, { verb: "apply" }>).object as {
      spec: Record<string, unknown>;
    };
    expect(applied.spec).toMatchObject({
      suspend: true,
      completions: 8,
      template: (job.spec as { template: object }).template,
    });
  });

  it("passes a raised backoffLimit to a running Job (a Job's backoffLimit may change, its template not)", async () => {
    const status = {
      phase: "Running",
      watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
    };
    const template = { metadata: { labels: { "batch.kubernetes.io/job-name": "x" } } };
    const job: KubeObject = {
      kind: "Job",
      metadata: { name: "jobs-minilm-v1-bootstrap", namespace: testNamespace },
      spec: {
        suspend: false,
        backoffLimit: 6,
        activeDeadlineSeconds: 21600,
        ttlSecondsAfterFinished: 604800,
        completions: 8,
        template,
      },
      status: { active: 8 },
    };
    const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
    (run.spec as { backoffLimit: number }).backoffLimit = 20;
    const calls = await reconcile(world(run, { Job: [job], ConfigMap: [shardsConfigMap] }));
    expect(summarizeCalls(calls)[0]).toBe("apply Job/jobs-minilm-v1-bootstrap");
    const applied = (calls[0] as Extract<RecordedCall, { verb: "apply" }>).object as {
      spec: Record<string, unknown>;
    };
    expect(applied.spec).toMatchObject({ backoffLimit: 20, suspend: false, completions: 8, template });
  });

  it("says FailedCreate with the API server's answer while the Job's shard pods are refused", async () => {
    const status = {
      phase: "Pending",
      watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
    };
    const job: KubeObject = {
      kind: "Job",
      metadata: { name: "jobs-minilm-v1-bootstrap", namespace: testNamespace, uid: "job-uid" },
      spec: { suspend: false, completions: 8, parallelism: 8 },
      status: {},
    };
    const answer =
      'pods "jobs-minilm-v1-bootstrap-0-lgdcq" is forbidden: failed quota: compute: must specify limits.cpu for: bootstrap';
    const event = (uid: string, reason: string): KubeObject =>
      ({
        kind: "Event",
        metadata: { name: `e-${uid}-${reason}`, namespace: testNamespace },
        involvedObject: { kind: "Job", uid },
        reason,
        message: `Error creating: ${answer}`,
        lastTimestamp: "2026-12-01T10:00:05Z",
      }) as KubeObject;
    const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
    const objects = world(run, { Job: [job], ConfigMap: [shardsConfigMap] });
    const standing = async (events: KubeObject[]) => {
      const calls = await reconcile({ ...objects, Event: events });
      const writtenStatus = statusOf(calls);
      return (writtenStatus.conditions as { type: string; reason: string; message: string }[]).find(
        (condition) => condition.type === "Reconciling",
      );
    };
    const refused = await standing([event("job-uid", "FailedCreate"), event("other-job", "FailedCreate")]);
    expect(refused).toMatchObject({ reason: "FailedCreate" });
    expect(refused?.message).toContain(answer);
    // Another Job's refusal, or none, leaves the run waiting.
    expect(await standing([event("other-job", "FailedCreate")])).toMatchObject({ reason: "Pending" });
  });

  it("records a Warning Event when shard pods the kubelet cannot run stall a running run, once", async () => {
    // The phase stays Running (the Job counts the pod active): the Stalled condition was the only word.
    const status = {
      phase: "Running",
      watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
    };
    const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
    const started = (await reconcile(world(run))).find(
      (call): call is Extract<RecordedCall, { verb: "apply" }> =>
        call.verb === "apply" && call.kind === "Job",
    )!.object;
    const shard: KubeObject = {
      kind: "Pod",
      metadata: {
        name: "jobs-minilm-v1-bootstrap-0-abcde",
        namespace: testNamespace,
        labels: { "app.kubernetes.io/component": "bootstrap", "jude.dev/bootstrap-run": "jobs-minilm-v1" },
      },
      status: {
        containerStatuses: [
          {
            name: "bootstrap",
            image: "registry.example.com/jude:0.9.9",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: {
              waiting: {
                reason: "ImagePullBackOff",
                message: 'Back-off pulling image "registry.example.com/jude:0.9.9"',
              },
            },
          },
        ],
      },
    } as KubeObject;
    const objects = world(run, {
      Job: [{ ...started, status: { active: 1 } }],
      ConfigMap: [shardsConfigMap],
      Pod: [shard],
    });
    const calls = await reconcile(objects);
    const writtenStatus = statusOf(calls);
    const conditions = writtenStatus.conditions as { type: string; status: string; reason: string }[];
    expect(conditions.find((condition) => condition.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "PodFailing",
    });
    expect(calls.filter((call) => call.verb === "event")).toEqual([
      expect.objectContaining({
        type: "Warning",
        reason: "PodFailing",
        message: expect.stringContaining("ImagePullBackOff"),
      }),
    ]);
    // Still Stalled at the next reconcile: no second Event.
    objects.BootstrapRun = [{ ...run, status: writtenStatus }];
    expect((await reconcile(objects)).filter((call) => call.verb === "event")).toEqual([]);
    // Stalled before for another cause (the run was not reconciled: its namespace's Jobs could not be
    // listed, or its reconciles kept failing): the pods' cause is news, and said.
    const notReconciled = (writtenStatus.conditions as { type: string }[]).map((condition) =>
      condition.type === "Stalled"
        ? { ...condition, reason: "ReconcileError", message: "cannot list" }
        : condition,
    );
    objects.BootstrapRun = [{ ...run, status: { ...writtenStatus, conditions: notReconciled } }];
    expect((await reconcile(objects)).filter((call) => call.verb === "event")).toEqual([
      expect.objectContaining({ type: "Warning", reason: "PodFailing" }),
    ]);
  });

  describe("names shard pods that ended while the run goes on (the Job retries or replaces them)", () => {
    const status = {
      phase: "Running",
      watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
    };
    const shardPod = (name: string, podStatus: Record<string, unknown>): KubeObject =>
      ({
        kind: "Pod",
        metadata: {
          name,
          namespace: testNamespace,
          labels: { "app.kubernetes.io/component": "bootstrap", "jude.dev/bootstrap-run": "jobs-minilm-v1" },
        },
        status: podStatus,
      }) as KubeObject;
    const failedAt = (name: string, finishedAt: string) =>
      shardPod(name, {
        phase: "Failed",
        containerStatuses: [
          {
            name: "bootstrap",
            image: "",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: {
              terminated: {
                exitCode: 1,
                reason: "Error",
                message: "cannot reach Kafka at kafka:9092\n",
                finishedAt,
              },
            },
          },
        ],
      });
    const standing = async (pods: KubeObject[]) => {
      const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
      const started = (await reconcile(world(run))).find(
        (call): call is Extract<RecordedCall, { verb: "apply" }> =>
          call.verb === "apply" && call.kind === "Job",
      )!.object;
      const calls = await reconcile(
        world(run, {
          Job: [{ ...started, status: { active: 1, failed: 2 } }],
          ConfigMap: [shardsConfigMap],
          Pod: pods,
        }),
      );
      const writtenStatus = statusOf(calls);
      const conditions = writtenStatus.conditions as { type: string; reason: string; message: string }[];
      return conditions.find((condition) => condition.type === "Ready")!;
    };

    it("a shard that failed and was retried: how many, of spec.backoffLimit, and the last exit", async () => {
      const ready = await standing([
        failedAt("jobs-minilm-v1-bootstrap-0-aaaaa", "2026-12-04T10:00:00Z"),
        failedAt("jobs-minilm-v1-bootstrap-0-bbbbb", "2026-12-04T10:00:30Z"),
        shardPod("jobs-minilm-v1-bootstrap-0-ccccc", { phase: "Pending" }),
      ]);
      expect(ready).toMatchObject({
        reason: "ShardsRetried",
        message: expect.stringMatching(
          /; 2 shard pods failed and were retried \(2 of spec\.backoffLimit 6\); last: pod jobs-minilm-v1-bootstrap-0-bbbbb, container bootstrap: Error, exit code 1 \(cannot reach Kafka at kafka:9092\)$/,
        ),
      });
    });

    it("a shard its node evicted (not counted against spec.backoffLimit)", async () => {
      const ready = await standing([
        shardPod("jobs-minilm-v1-bootstrap-1-ddddd", {
          phase: "Failed",
          reason: "Evicted",
          message: "The node was low on resource: ephemeral-storage.",
          startTime: "2026-12-04T10:00:00Z",
        }),
        shardPod("jobs-minilm-v1-bootstrap-1-eeeee", { phase: "Running" }),
      ]);
      expect(ready.message).toMatch(
        /; pod jobs-minilm-v1-bootstrap-1-ddddd was stopped by its node: Evicted: The node was low on resource: ephemeral-storage\.; the Job replaced it \(a stop is not counted against spec\.backoffLimit\)$/,
      );
    });
  });

  it("puts back a running Job's deleted ConfigMap only as the Job started with it", async () => {
    const status = {
      phase: "Running",
      watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
    };
    const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
    const started = (await reconcile(world(run))).find(
      (call): call is Extract<RecordedCall, { verb: "apply" }> =>
        call.verb === "apply" && call.kind === "Job",
    )!.object;
    const running = { ...started, status: { active: 2 } };
    expect(summarizeCalls(await reconcile(world(run, { Job: [running] })))).toEqual([
      "apply ConfigMap/jobs-minilm-v1-bootstrap",
      "applyStatus BootstrapRun/jobs-minilm-v1",
    ]);
    // The pipeline changed since the Job started: its config is not the one to restore.
    const objects = world(run, { Job: [running] });
    (objects.NearlinePipeline[0]!.spec as { extract: { title: string } }).extract.title = "$.heading";
    expect(summarizeCalls(await reconcile(objects))).toEqual([
      "event Warning ConfigMapMissing",
      "applyStatus BootstrapRun/jobs-minilm-v1",
    ]);
  });

  // Releases before this one rendered the config without the model's vector settings, and those
  // before the run uid also without that: a Job either started is given back its own config.
  it.each([
    { release: "the previous release", without: ["vectorSettings"] },
    { release: "a release before the run uid", without: ["vectorSettings", "uid"] },
  ])(
    "puts back the ConfigMap of a Job $release started, whose config had no $without",
    async ({ without }) => {
      const status = {
        phase: "Running",
        watermarks: { capturedTime: "2026-12-01T10:00:00Z", topic: "jobs.changelog", partitions: watermarks },
      };
      const run = stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = status));
      const applied = (await reconcile(world(run))).filter(
        (call): call is Extract<RecordedCall, { verb: "apply" }> => call.verb === "apply",
      );
      const config = (
        applied.find((call) => call.kind === "ConfigMap")!.object.data as Record<string, string>
      )["config.yaml"]!;
      // The config and the Job as that release rendered them (the same run, without those lines).
      const lines = {
        uid: "\n  uid: run-uid",
        vectorSettings:
          "\n  vectorSettings:\n    pooling: mean\n    normalize: true\n    maxSequenceLength: 256\n    precision: fp32",
      };
      let previousConfig = config;
      for (const name of without) {
        const line = lines[name as keyof typeof lines];
        expect(previousConfig).toContain(line);
        previousConfig = previousConfig.replace(line, "");
      }
      const job = structuredClone(applied.find((call) => call.kind === "Job")!.object) as KubeObject & {
        spec: { template: { metadata: { annotations: Record<string, string> } } };
      };
      job.spec.template.metadata.annotations["jude.dev/config-hash"] = createHash("sha256")
        .update(previousConfig)
        .digest("hex");
      const calls = await reconcile(world(run, { Job: [{ ...job, status: { active: 2 } }] }));
      expect(summarizeCalls(calls)).toEqual([
        "apply ConfigMap/jobs-minilm-v1-bootstrap",
        "applyStatus BootstrapRun/jobs-minilm-v1",
      ]);
      // As the Job started with it: its shards keep resuming their checkpoints.
      const restored = (calls[0] as Extract<RecordedCall, { verb: "apply" }>).object;
      expect((restored.data as Record<string, string>)["config.yaml"]).toBe(previousConfig);
    },
  );

  it("waits for the Job of an earlier run of its name instead of taking that Job's outcome", async () => {
    // The run was deleted (by hand, or by a promotion rebuilding its version) and created again; the
    // garbage collector has not removed the finished Job the deleted run owned yet.
    const run = stored("bootstrap-run.yaml", "run-uid");
    const rendered = (await reconcile(world(run))).find(
      (call): call is Extract<RecordedCall, { verb: "apply" }> =>
        call.verb === "apply" && call.kind === "Job",
    )!.object;
    const earlier = {
      ...rendered,
      metadata: {
        ...rendered.metadata,
        ownerReferences: [
          {
            apiVersion: "jude.dev/v1alpha1",
            kind: "BootstrapRun",
            name: key.name,
            uid: "earlier-run-uid",
            controller: true,
          },
        ],
      },
      status: { succeeded: 2, conditions: [{ type: "Complete", status: "True" }] },
    } as KubeObject;
    const calls = await reconcile(world(run, { Job: [earlier], ConfigMap: [shardsConfigMap] }));
    expect(summarizeCalls(calls)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
    expect(status.phase).toBe("Pending");
    expect(status.conditions).toContainEqual(
      expect.objectContaining({ type: "Reconciling", status: "True", reason: "WaitingForEarlierJob" }),
    );
  });

  describe("two runs of the same pipeline and version", () => {
    // Was: a second run (a hand-made one beside the promotion's, or applied twice under two names)
    // started its own Job at once, both filling the same version's keys side by side.
    const other = (created: string, status?: Record<string, unknown>) =>
      stored("bootstrap-run.yaml", "other-uid", (object) => {
        setPath(object, "metadata.name", "jobs-minilm-v1-again");
        setPath(object, "metadata.creationTimestamp", created);
        if (status !== undefined) object.status = status as never;
      }) as KubeObject;
    const otherJob: KubeObject = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: "jobs-minilm-v1-again-bootstrap",
        namespace: testNamespace,
        ownerReferences: [
          {
            apiVersion: "jude.dev/v1alpha1",
            kind: "BootstrapRun",
            name: "jobs-minilm-v1-again",
            uid: "other-uid",
            controller: true,
          },
        ],
      },
      status: { active: 2 },
    };
    const run = stored("bootstrap-run.yaml", "run-uid") as KubeObject;

    it("waits, creating no Job, while another run of them has its Job running, naming that run", async () => {
      const objects = world(run, { Job: [otherJob] });
      objects.BootstrapRun.push(other("2026-12-01T11:00:00Z", { phase: "Running" }));
      const calls = await reconcile(objects);
      expect(summarizeCalls(calls)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
      const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
      expect(status.phase).toBe("Pending");
      expect(status.watermarks).toBeUndefined();
      const reconciling = (status.conditions as { type: string; message?: string }[]).find(
        (condition) => condition.type === "Reconciling",
      );
      expect(reconciling).toMatchObject({ status: "True", reason: "AnotherRunInFlight" });
      expect(reconciling?.message).toContain("BootstrapRun jobs-minilm-v1-again");
    });

    it("waits for an unfinished run of them created earlier, though its Job does not exist yet", async () => {
      const objects = world(run);
      objects.BootstrapRun.push(other("2026-12-01T09:00:00Z"));
      const calls = await reconcile(objects);
      expect(summarizeCalls(calls)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
    });

    // Was: "BootstrapRun X fills version ... already" for a run ahead that was suspended or stalled, so
    // filled nothing and might never finish; the waiting run's message did not say how to unblock it.
    const waitingMessage = async (ahead: KubeObject, jobs: KubeObject[] = []) => {
      const objects = world(run, { Job: jobs });
      objects.BootstrapRun.push(ahead);
      const calls = await reconcile(objects);
      expect(summarizeCalls(calls)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
      const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
      return (status.conditions as { type: string; reason?: string; message?: string }[]).find(
        (condition) => condition.type === "Reconciling",
      );
    };

    it("says a run ahead is suspended, and that resuming or deleting it lets this one start", async () => {
      const suspended = other("2026-12-01T09:00:00Z", { phase: "Suspended" });
      setPath(suspended as Record<string, unknown>, "spec.suspend", true);
      const reconciling = await waitingMessage(suspended, [otherJob]);
      expect(reconciling?.reason).toBe("AnotherRunInFlight");
      expect(reconciling?.message).toContain("jobs-minilm-v1-again is suspended");
      expect(reconciling?.message).toContain("spec.suspend");
    });

    it("quotes why a run ahead is stalled", async () => {
      const stalled = other("2026-12-01T09:00:00Z", {
        phase: "Pending",
        conditions: [
          {
            type: "Stalled",
            status: "True",
            reason: "SecretMissing",
            message: "Secret redis-auth not found",
            lastTransitionTime: "2026-12-01T09:00:00Z",
          },
        ],
      });
      const reconciling = await waitingMessage(stalled);
      expect(reconciling?.reason).toBe("AnotherRunInFlight");
      expect(reconciling?.message).toContain("is stalled (SecretMissing: Secret redis-auth not found)");
      expect(reconciling?.message).toContain("delete");
    });

    it("starts once the other run finished, and goes first when it was created first", async () => {
      for (const [created, status] of [
        ["2026-12-01T09:00:00Z", { phase: "Succeeded" }],
        ["2026-12-01T09:00:00Z", { phase: "Failed" }],
        ["2026-12-01T11:00:00Z", undefined],
        // Created in the same second: the name breaks the tie (jobs-minilm-v1 < jobs-minilm-v1-again).
        ["2026-12-01T10:00:00Z", undefined],
      ] as const) {
        const objects = world(run);
        objects.BootstrapRun.push(other(created, status));
        const calls = await reconcile(objects);
        expect(summarizeCalls(calls)).toContain("apply Job/jobs-minilm-v1-bootstrap");
      }
    });
  });

  // Was: a store Secret whose key holds no store URL (emptied, or a value pasted wrong) after the Job
  // started was only a failed read: Reconciling for ever, "store URL is not a URL; expected …", naming
  // neither the Secret nor the field, though only a person can mend it (as a deleted key).
  describe("a completed run whose store Secret's key holds no store URL", () => {
    const completed = async (url: string) => {
      const run = stored("bootstrap-run.yaml", "run-uid", (object) => {
        object.status = {
          phase: "Running",
          watermarks: {
            capturedTime: "2026-12-01T10:00:00Z",
            topic: "jobs.changelog",
            partitions: watermarks,
          },
        };
      }) as KubeObject;
      const job = (await reconcile(world(run))).find(
        (call): call is Extract<RecordedCall, { verb: "apply" }> =>
          call.verb === "apply" && call.kind === "Job",
      )!.object;
      const objects = world(run, {
        Job: [
          {
            ...job,
            metadata: { ...job.metadata, uid: "job-uid" },
            status: { succeeded: 2, conditions: [{ type: "Complete", status: "True" }] },
          } as KubeObject,
        ],
        ConfigMap: [shardsConfigMap],
      });
      objects.Secret = [
        {
          kind: "Secret",
          metadata: { name: "jude-redis", namespace: testNamespace },
          data: { url: Buffer.from(url).toString("base64") },
        },
      ];
      // The real read: it never connects, the value being no URL.
      const calls = await reconcile(objects, { readCheckpoints: undefined });
      const status = calls.find(
        (call): call is Extract<RecordedCall, { verb: "applyStatus" }> => call.verb === "applyStatus",
      )!.status;
      const events = calls.filter(
        (call): call is Extract<RecordedCall, { verb: "event" }> => call.verb === "event",
      );
      return { status, events };
    };

    it("is Stalled CheckpointsUnreadable, naming the field, the Secret and its key, once", async () => {
      for (const [url, why] of [
        ["", "which is empty"],
        ["jude redis", "which holds no store URL: store URL is not a URL"],
      ]) {
        const { status, events } = await completed(url!);
        expect(status.phase).toBe("Running");
        const stalled = (status.conditions as { type: string; message: string }[]).find(
          (condition) => condition.type === "Stalled",
        );
        expect(stalled).toMatchObject({ status: "True", reason: "CheckpointsUnreadable" });
        expect(stalled?.message).toContain(
          `NearlinePipeline jobs: spec.sinks.store.urlSecretRef names key url of Secret jude-redis, ${why}`,
        );
        expect(events.map((event) => event.reason)).toEqual(["CheckpointsUnreadable"]);
      }
    });
  });

  // Was: a Secret the running shards read (here the store's) deleted under the Job left the run
  // Reconciling, reason Running, until the Job ended: nothing said that a shard pod started from then
  // on (a retry, a resume) cannot start, nor that only restoring the Secret helps.
  // Was: a run that could not start for a missing Secret waited Pending, Stalled SecretNotFound, with
  // no Event at all: `kubectl get events` (and the dashboard's Events) showed nothing for a run that
  // needs a person, unlike the same Secret gone under a running Job.
  it("says once, as a Warning Event, that a run cannot start for a missing Secret", async () => {
    const run = stored("bootstrap-run.yaml", "run-uid") as KubeObject;
    const missing = world(run);
    missing.Secret = [];
    const calls = await reconcile(missing);
    expect(calls.some((call) => call.verb === "apply")).toBe(false);
    const status = calls.find(
      (call): call is Extract<RecordedCall, { verb: "applyStatus" }> => call.verb === "applyStatus",
    )!.status as {
      phase: string;
      conditions: { type: string; status: string; reason: string; message: string }[];
    };
    expect(status.phase).toBe("Pending");
    const stalled = status.conditions.find((each) => each.type === "Stalled");
    expect(stalled).toMatchObject({ status: "True", reason: "SecretNotFound" });
    const warnings = calls.filter((call) => call.verb === "event");
    expect(warnings).toEqual([
      expect.objectContaining({ type: "Warning", reason: "SecretNotFound", message: stalled!.message }),
    ]);
    // Not again while it stays so (the 30 s recheck reconciles it again).
    const again = await reconcile({ ...missing, BootstrapRun: [{ ...run, status } as KubeObject] });
    expect(again.filter((call) => call.verb === "event")).toEqual([]);
  });

  describe("a run whose Secret is deleted while its Job runs", () => {
    const condition = (calls: RecordedCall[], type: string) =>
      statusOf(calls).conditions.find((each) => each.type === type);

    it("keeps the Job, and is Stalled SecretNotFound naming the field while the Secret is gone", async () => {
      const run = runningRun();
      const job = await startedJob(run);
      const gone = world(run, { Job: [job], ConfigMap: [shardsConfigMap] });
      gone.Secret = [];
      const calls = await reconcile(gone);
      expect(calls.filter((call) => call.verb === "delete")).toEqual([]);
      expect(statusOf(calls).phase).toBe("Running");
      expect(condition(calls, "Stalled")).toMatchObject({ status: "True", reason: "SecretNotFound" });
      expect(condition(calls, "Ready")).toMatchObject({ status: "False", reason: "SecretNotFound" });
      const message = condition(calls, "Stalled")!.message;
      expect(message).toContain(
        "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
      );
      expect(message).toContain("a shard pod started from now on cannot start until it is restored");
      // Said once as a Warning Event; not again while it stays so.
      const warnings = calls.filter((call) => call.verb === "event" && call.type === "Warning");
      expect(warnings.map((call) => (call as { reason: string }).reason)).toEqual(["SecretNotFound"]);
      const again = await reconcile({
        ...gone,
        BootstrapRun: [{ ...run, status: { ...runningStatus, ...statusOf(calls) } } as KubeObject],
      });
      expect(again.filter((call) => call.verb === "event")).toEqual([]);
      // Back: running again, as before.
      const restored = await reconcile(world(run, { Job: [job], ConfigMap: [shardsConfigMap] }));
      expect(condition(restored, "Stalled")).toMatchObject({ status: "False" });
      expect(condition(restored, "Reconciling")).toMatchObject({ status: "True", reason: "Running" });
    });

    // Was: reason SecretNotFound for a key gone from a Secret still there, where the pipeline and the
    // model say SecretKeyNotFound for the same reference.
    it("is Stalled SecretKeyNotFound when the Secret is there without its key, as the pipeline says", async () => {
      const run = runningRun();
      const job = await startedJob(run);
      const keyless = world(run, {
        Job: [job],
        ConfigMap: [shardsConfigMap],
        Secret: [{ kind: "Secret", metadata: { name: "jude-redis", namespace: testNamespace }, data: {} }],
      });
      const calls = await reconcile(keyless);
      expect(condition(calls, "Stalled")).toMatchObject({ status: "True", reason: "SecretKeyNotFound" });
      expect(condition(calls, "Stalled")!.message).toContain(
        "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names key url of Secret jude-redis, which has no such key",
      );
      const warnings = calls.filter((call) => call.verb === "event" && call.type === "Warning");
      expect(warnings.map((call) => (call as { reason: string }).reason)).toEqual(["SecretKeyNotFound"]);
    });

    // Was: the pipeline's reference as it is now was checked, and only if the Job read a Secret of that
    // name: a Job reading jude-redis, whose pipeline now names jude-redis-next, was not said to be
    // stalled when jude-redis was deleted, though a shard pod started from then on reads it still.
    it("judges a store Secret renamed since the Job started by the Secret the Job reads", async () => {
      const run = runningRun();
      const job = await startedJob(run);
      const renamedTo = (secrets: string[]) => {
        const objects = world(run, { Job: [job], ConfigMap: [shardsConfigMap] });
        setPath(objects.NearlinePipeline![0] as Record<string, unknown>, "spec.sinks.store.urlSecretRef", {
          name: "jude-redis-next",
          key: "url",
        });
        objects.Secret = secrets.map((name) => ({
          kind: "Secret",
          metadata: { name, namespace: testNamespace },
          data: { url: "cmVkaXM6Ly94" },
        }));
        return objects;
      };
      const both = await reconcile(renamedTo(["jude-redis", "jude-redis-next"]));
      expect(condition(both, "Stalled")).toMatchObject({ status: "False" });
      expect(condition(both, "Reconciling")).toMatchObject({ status: "True", reason: "Running" });
      const oldGone = await reconcile(renamedTo(["jude-redis-next"]));
      expect(condition(oldGone, "Stalled")).toMatchObject({ status: "True", reason: "SecretNotFound" });
      expect(condition(oldGone, "Stalled")!.message).toContain(
        "NearlinePipeline jobs: spec.sinks.store.urlSecretRef named Secret jude-redis when Job jobs-minilm-v1-bootstrap started (its shard pods read it), which does not exist",
      );
    });

    it("still reports the Job's outcome: Failed when it failed, Succeeded when it completed", async () => {
      const run = runningRun();
      // A Secret only the shard pods read (the model's serving token): the checkpoints stay readable.
      const withToken = (objects: Record<string, KubeObject[]>) => {
        setPath(objects.EmbeddingModel![0] as Record<string, unknown>, "spec.serving.auth", {
          tokenSecretRef: { name: "serving-token", key: "token" },
        });
        return objects;
      };
      const token = {
        kind: "Secret",
        metadata: { name: "serving-token", namespace: testNamespace },
        data: { token: "dA==" },
      };
      const started = withToken(world(run));
      started.Secret!.push(token);
      const job = await startedJob(run, started);
      const ended = (conditions: { type: string; status: string; reason?: string }[]) =>
        withToken(
          world(run, {
            Job: [{ ...job, status: { conditions } } as KubeObject],
            ConfigMap: [shardsConfigMap],
          }),
        );
      const running = await reconcile(ended([]));
      expect(condition(running, "Stalled")).toMatchObject({ status: "True", reason: "SecretNotFound" });
      expect(condition(running, "Stalled")!.message).toContain(
        "EmbeddingModel jude-minilm: spec.serving.auth.tokenSecretRef names Secret serving-token, which does not exist",
      );
      const failed = await reconcile(
        ended([{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }]),
      );
      expect(statusOf(failed).phase).toBe("Failed");
      const done: CheckpointState = {
        fingerprint: "f",
        phase: "done",
        attempt: 1,
        startedAtMs: 0,
        updatedAtMs: 0,
        units: { p0: { start: 0, end: 10, position: 10, done: true } },
        counts: { ...zeroCounts(), processed: 10, embedded: 10 },
      };
      const completed = await reconcile(ended([{ type: "Complete", status: "True" }]), {
        readCheckpoints: async () => [done, done],
      });
      expect(statusOf(completed).phase).toBe("Succeeded");
      expect(condition(completed, "Ready")).toMatchObject({ status: "True" });
    });
  });

  describe("a run whose pipeline moved to another store", () => {
    const movedTo = (objects: Record<string, KubeObject[]>, name: string) =>
      setPath(objects.NearlinePipeline![0] as Record<string, unknown>, "spec.sinks.store.name", name);

    it("records the store its shards write to on the Job it creates", async () => {
      const job = await startedJob(runningRun());
      expect(job.metadata?.annotations).toMatchObject({
        "jude.dev/store": "job-recs",
        // The Secret's URL is redis://x: where it points, never its credentials.
        "jude.dev/store-endpoint": "redis://x:6379/0",
      });
    });

    it("replaces the Job writing to the store the pipeline left, keeping the watermarks, and says why", async () => {
      const run = runningRun();
      const objects = world(run, { Job: [await startedJob(run)], ConfigMap: [shardsConfigMap] });
      movedTo(objects, "job-recs-b");
      const calls = await reconcile(objects);
      expect(summarizeCalls(calls)).toEqual([
        "delete Job/jobs-minilm-v1-bootstrap",
        "event Normal StoreChanged",
        "applyStatus BootstrapRun/jobs-minilm-v1",
      ]);
      const event = calls[1] as Extract<RecordedCall, { verb: "event" }>;
      expect(event.message).toContain('store "job-recs"');
      expect(event.message).toContain('store "job-recs-b"');
      const status = (calls[2] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
      expect(status).toMatchObject({ phase: "Pending", watermarks: runningStatus.watermarks });
      expect(status.conditions).toContainEqual(
        expect.objectContaining({ type: "Reconciling", status: "True", reason: "StoreChanged" }),
      );

      // Once the Job is gone, the run starts again into the new store from the same snapshot.
      const next = world({ ...run, status: status } as KubeObject, { ConfigMap: [shardsConfigMap] });
      movedTo(next, "job-recs-b");
      const restarted = await reconcile(next);
      const applied = restarted.filter(
        (call): call is Extract<RecordedCall, { verb: "apply" }> => call.verb === "apply",
      );
      expect(applied.map((call) => `${call.kind}/${call.name}`)).toEqual([
        "ConfigMap/jobs-minilm-v1-bootstrap",
        "Job/jobs-minilm-v1-bootstrap",
      ]);
      expect(applied[1]!.object.metadata?.annotations).toMatchObject({ "jude.dev/store": "job-recs-b" });
      const config = (applied[0]!.object.data as Record<string, string>)["config.yaml"]!;
      expect(config).toContain("name: job-recs-b");
      const written = restarted.filter(
        (call): call is Extract<RecordedCall, { verb: "applyStatus" }> => call.verb === "applyStatus",
      );
      expect(written.at(-1)!.status.watermarks).toEqual(runningStatus.watermarks);
    });

    it("deletes the Job once: a cache that still holds it after the deletion waits without a second Event", async () => {
      const run = runningRun();
      const objects = world(run, { Job: [await startedJob(run)], ConfigMap: [shardsConfigMap] });
      movedTo(objects, "job-recs-b");
      const replacedJobs = new ReplacedJobs();
      expect(summarizeCalls(await reconcile(objects, { replacedJobs }))).toEqual([
        "delete Job/jobs-minilm-v1-bootstrap",
        "event Normal StoreChanged",
        "applyStatus BootstrapRun/jobs-minilm-v1",
      ]);
      // Woken by its own status write before the Job's watch brought the deletion.
      const again = await reconcile(objects, { replacedJobs });
      expect(summarizeCalls(again)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
      expect((again[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status.conditions).toContainEqual(
        expect.objectContaining({ type: "Reconciling", reason: "StoreChanged" }),
      );
    });

    it("replaces the Job when the store Secret's URL points at another Redis under the same name", async () => {
      const run = runningRun();
      const objects = world(run, { Job: [await startedJob(run)], ConfigMap: [shardsConfigMap] });
      objects.Secret = [
        {
          kind: "Secret",
          metadata: { name: "jude-redis", namespace: testNamespace },
          data: { url: Buffer.from("redis://other:6380").toString("base64") },
        },
      ];
      const calls = await reconcile(objects);
      expect(summarizeCalls(calls).slice(0, 2)).toEqual([
        "delete Job/jobs-minilm-v1-bootstrap",
        "event Normal StoreChanged",
      ]);
      expect((calls[1] as Extract<RecordedCall, { verb: "event" }>).message).toContain(
        "redis://other:6380/0",
      );
    });

    it("tells a Cluster store's move by its seeds: another Cluster is a move, the same seeds reordered are not", async () => {
      const clusterWorld = (run: KubeObject, seeds: string, extra: Record<string, KubeObject[]> = {}) => {
        const objects = world(run, extra);
        setPath(objects.NearlinePipeline![0] as Record<string, unknown>, "spec.sinks.store.cluster", true);
        objects.Secret = [
          {
            kind: "Secret",
            metadata: { name: "jude-redis", namespace: testNamespace },
            data: { url: Buffer.from(seeds).toString("base64") },
          },
        ];
        return objects;
      };
      const run = runningRun();
      const started = (await reconcile(clusterWorld(run, "redis-0:6379,redis-1:6379"))).find(
        (call): call is Extract<RecordedCall, { verb: "apply" }> =>
          call.verb === "apply" && call.kind === "Job",
      )!.object;
      expect(started.metadata?.annotations?.["jude.dev/store-endpoint"]).toBe(
        "redis-cluster://redis-0:6379,redis-1:6379",
      );
      const job = { ...started, metadata: { ...started.metadata, uid: "job-uid" }, status: { active: 2 } };
      const extra = { Job: [job as KubeObject], ConfigMap: [shardsConfigMap] };
      const reordered = await reconcile(clusterWorld(run, " Redis-1:6379, redis-0:6379", extra));
      expect(reordered.filter((call) => call.verb === "delete" || call.verb === "event")).toEqual([]);
      const moved = await reconcile(clusterWorld(run, "other-0:6379,other-1:6379", extra));
      expect(summarizeCalls(moved).slice(0, 2)).toEqual([
        "delete Job/jobs-minilm-v1-bootstrap",
        "event Normal StoreChanged",
      ]);
      expect((moved[1] as Extract<RecordedCall, { verb: "event" }>).message).toContain(
        "redis-cluster://other-0:6379,other-1:6379",
      );
    });

    it("leaves a Job alone while its store is the pipeline's, or cannot be told", async () => {
      const run = runningRun();
      const job = await startedJob(run);
      const same = await reconcile(world(run, { Job: [job], ConfigMap: [shardsConfigMap] }));
      expect(same.filter((call) => call.verb === "delete" || call.verb === "event")).toEqual([]);
      // The store Secret cannot be read now: the name still matches, which is no evidence of a move.
      const noSecret = world(run, { Job: [job], ConfigMap: [shardsConfigMap] });
      noSecret.Secret = [];
      const unread = await reconcile(noSecret);
      expect(unread.filter((call) => call.verb === "delete")).toEqual([]);
      // Nor is its template rendered again without them (a Job's template cannot change; its shard
      // pods keep the volumes of the Secrets as they were).
      expect(unread.filter((call) => call.verb === "apply" && call.kind === "Job")).toEqual([]);
    });

    it("never replaces a Job an operator without the annotation started (its store is unknown)", async () => {
      const run = runningRun();
      const job = await startedJob(run);
      const annotations = { ...job.metadata!.annotations };
      delete annotations["jude.dev/store"];
      delete annotations["jude.dev/store-endpoint"];
      const older = { ...job, metadata: { ...job.metadata, annotations } } as KubeObject;
      const objects = world(run, { Job: [older], ConfigMap: [shardsConfigMap] });
      movedTo(objects, "job-recs-b");
      const calls = await reconcile(objects);
      expect(calls.filter((call) => call.verb === "delete")).toEqual([]);
    });

    it("keeps the store annotations when it passes controls to the Job", async () => {
      const run = runningRun();
      const job = await startedJob(run);
      (run.spec as { suspend: boolean }).suspend = true;
      const calls = await reconcile(world(run, { Job: [job], ConfigMap: [shardsConfigMap] }));
      const applied = calls.find(
        (call): call is Extract<RecordedCall, { verb: "apply" }> =>
          call.verb === "apply" && call.kind === "Job",
      )!;
      expect(applied.object.spec).toMatchObject({ suspend: true });
      expect(applied.object.metadata?.annotations).toEqual({
        "jude.dev/store": "job-recs",
        "jude.dev/store-endpoint": "redis://x:6379/0",
      });
    });
  });

  it("never touches a finished run", async () => {
    const run = stored(
      "bootstrap-run.yaml",
      "run-uid",
      (object) => void (object.status = { phase: "Succeeded", observedGeneration: 1 }),
    );
    (run.spec as { suspend: boolean }).suspend = true;
    expect(await reconcile(world(run))).toEqual([]);
  });

  it("acknowledges a spec edited after the run finished, changing nothing else", async () => {
    const condition = (type: string, status: string) => ({
      type,
      status,
      reason: "Succeeded",
      message: "",
      observedGeneration: 1,
      lastTransitionTime: "2026-12-01T11:00:00Z",
    });
    const finished = {
      phase: "Succeeded",
      observedGeneration: 1,
      completionTime: "2026-12-01T11:00:00Z",
      conditions: [condition("Ready", "True"), condition("Stalled", "False")],
    };
    const run = stored("bootstrap-run.yaml", "run-uid", (object) => {
      object.status = finished;
      (object.metadata as { generation: number }).generation = 2; // ttlSecondsAfterFinished edited
    });
    const calls = await reconcile(world(run));
    expect(summarizeCalls(calls)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
    expect((calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status).toEqual({
      ...finished,
      observedGeneration: 2,
      conditions: finished.conditions.map((entry) => ({ ...entry, observedGeneration: 2 })),
    });
  });

  it("stalls as VersionNotServed, capturing nothing, for a version the model's status lists whose record was deleted", async () => {
    // The model moved on to minilm-v2; minilm-v1 is still listed as Retained but its record is gone:
    // nothing says how minilm-v1 was built, so the run must not fill it with the spec's minilm-v2 setup.
    const objects = world(stored("bootstrap-run.yaml", "run-uid") as KubeObject);
    objects.EmbeddingModel = [
      stored("embedding-model.yaml", "model-uid", (object) =>
        movedToMinilmV2(object, "Retained"),
      ) as KubeObject,
    ];
    const calls = await reconcile(objects);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus BootstrapRun/jobs-minilm-v1",
      "event Warning VersionNotServed",
    ]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
    expect(status.watermarks).toBeUndefined();
    expect(status.conditions).toContainEqual(
      expect.objectContaining({ type: "Stalled", status: "True", reason: "VersionNotServed" }),
    );
  });

  describe("a started run whose version the model dropped (superseded before it went live)", () => {
    const objectsWith = async (records: KubeObject[]) => {
      const run = runningRun();
      return world(run, {
        Job: [await startedJob(run)],
        ConfigMap: [shardsConfigMap, ...records],
        EmbeddingModel: [
          stored("embedding-model.yaml", "model-uid", (object) => {
            setPath(object, "spec.version", "minilm-v2");
          }) as KubeObject,
        ],
      });
    };

    it("is Stalled, reason VersionSuperseded, telling the user to delete it; its Job is left", async () => {
      const calls = await reconcile(await objectsWith([]));
      expect(calls.some((call) => call.verb === "delete")).toBe(false);
      const writtenStatus = statusOf(calls);
      expect(writtenStatus.phase).toBe("Running");
      expect(writtenStatus.conditions).toContainEqual(
        expect.objectContaining({
          type: "Stalled",
          status: "True",
          reason: "VersionSuperseded",
          message: expect.stringContaining(
            "EmbeddingModel jude-minilm no longer records version minilm-v1 (its spec.version is minilm-v2",
          ),
        }),
      );
      expect(calls.filter((call) => call.verb === "event")).toEqual([
        expect.objectContaining({ type: "Warning", reason: "VersionSuperseded" }),
      ]);
    });

    it("says nothing on a run the model made: the promotion deletes it once the record is gone", async () => {
      // The record is dropped first and the run deleted by a later model reconcile: in between, a
      // Stalled and a Warning telling the user to delete the model's own run would be wrong.
      const objects = await objectsWith([]);
      const run = objects.BootstrapRun[0]!;
      run.metadata!.ownerReferences = [
        {
          apiVersion: "jude.dev/v1alpha1",
          kind: "EmbeddingModel",
          name: "jude-minilm",
          uid: "model-uid",
          controller: true,
        },
      ];
      const calls = await reconcile(objects);
      expect(calls.filter((call) => call.verb === "event")).toEqual([]);
      const writtenStatus = statusOf(calls);
      expect(writtenStatus.conditions).not.toContainEqual(
        expect.objectContaining({ reason: "VersionSuperseded" }),
      );
    });

    it("is no longer Stalled, with no Event, once the model's spec.version names its version again", async () => {
      const objects = await objectsWith([]);
      const run = objects.BootstrapRun[0]!;
      const superseded = await reconcile(objects);
      const saidStatus = statusOf(superseded);
      run.status = saidStatus;
      objects.EmbeddingModel = [stored("embedding-model.yaml", "model-uid") as KubeObject];
      const calls = await reconcile(objects);
      const writtenStatus = statusOf(calls);
      expect(writtenStatus.conditions).toContainEqual(
        expect.objectContaining({ type: "Stalled", status: "False" }),
      );
      expect(writtenStatus.conditions).not.toContainEqual(
        expect.objectContaining({ reason: "VersionSuperseded" }),
      );
      expect(calls.filter((call) => call.verb === "event")).toEqual([]);
    });

    it("goes on as before while the model still records the version (an older version, retained)", async () => {
      const raw = stored("embedding-model.yaml", "model-uid");
      const calls = await reconcile(await objectsWith([servedRecord(raw)]));
      const writtenStatus = statusOf(calls);
      expect(writtenStatus.conditions).not.toContainEqual(
        expect.objectContaining({ reason: "VersionSuperseded" }),
      );
    });

    // The version readers use can lack its record (the model deleted and applied again with another
    // spec.version, as `kubectl jude approve` warns): it went live, so it was superseded by nothing, and
    // "delete this run" would have the user delete a run filling the live version.
    it("says nothing on a run of the active version, recorded or not", async () => {
      const objects = await objectsWith([]);
      setPath(objects.EmbeddingModel[0]!, "status.activeVersion", "minilm-v1");
      const writtenStatus = statusOf(await reconcile(objects));
      expect(writtenStatus.conditions).not.toContainEqual(
        expect.objectContaining({ reason: "VersionSuperseded" }),
      );
    });
  });

  it("stalls without capturing anything when the pipeline is missing", async () => {
    const objects = world(stored("bootstrap-run.yaml", "run-uid") as KubeObject);
    objects.NearlinePipeline = [];
    const calls = await reconcile(objects);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus BootstrapRun/jobs-minilm-v1",
      "event Warning PipelineNotFound",
    ]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
    expect(status.watermarks).toBeUndefined();
    expect(status.conditions).toContainEqual(
      expect.objectContaining({ type: "Stalled", status: "True", reason: "PipelineNotFound" }),
    );
  });

  describe("applied with its pipeline or model version (one kubectl apply or GitOps sync)", () => {
    // Was: a Flux sync applies BootstrapRun before NearlinePipeline (kinds in name order), so a run in the
    // same commit as its pipeline went Stalled (Argo CD health Degraded) with a Warning Event each time.
    const young = (edit?: (object: Record<string, unknown>) => void) =>
      stored("bootstrap-run.yaml", "run-uid", (object) => {
        setPath(object, "metadata.creationTimestamp", new Date(Date.now() - 5_000).toISOString());
        edit?.(object);
      }) as KubeObject;
    const run = async (objects: Record<string, KubeObject[]>) => {
      const { context, calls } = fakeContext(key, objects);
      const result = await reconcileBootstrapRun(context, {
        images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
        captureWatermarks: async () => watermarks,
        readCheckpoints: async () => [null, null],
      });
      const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
      return { calls: summarizeCalls(calls), result, status };
    };

    it("waits for a pipeline not created yet as Reconciling, no Warning, and looks again when its grace ends", async () => {
      const objects = world(young());
      objects.NearlinePipeline = [];
      const { calls, result, status } = await run(objects);
      expect(calls).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
      expect(status.phase).toBe("Pending");
      expect(status.conditions).toContainEqual(
        expect.objectContaining({
          type: "Reconciling",
          status: "True",
          reason: "PipelineNotFound",
          message: expect.stringMatching(
            /^spec\.pipelineRef\.name: NearlinePipeline jobs does not exist in namespace \S+; waiting up to 30 s from the run's creation for it \(one sync or kubectl apply may apply the run first\)$/,
          ),
        }),
      );
      expect(status.conditions).not.toContainEqual(
        expect.objectContaining({ type: "Stalled", status: "True" }),
      );
      expect(result?.requeueAfterMs).toBeGreaterThan(20_000);
      expect(result?.requeueAfterMs).toBeLessThanOrEqual(26_000);
    });

    it("stalls with its Warning once the grace is over and the pipeline is still missing", async () => {
      const objects = world(
        young((object) =>
          setPath(object, "metadata.creationTimestamp", new Date(Date.now() - 31_000).toISOString()),
        ),
      );
      objects.NearlinePipeline = [];
      const { calls, status } = await run(objects);
      expect(calls).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1", "event Warning PipelineNotFound"]);
      expect(status.conditions).toContainEqual(
        expect.objectContaining({ type: "Stalled", status: "True", reason: "PipelineNotFound" }),
      );
    });

    it("stalls 30 s after it first said it waits, however far the API server's clock runs ahead of the operator's", async () => {
      // creationTimestamp is the API server's clock; an operator whose clock runs 10 minutes behind
      // it read the run as 10 minutes younger than it is, and kept it Reconciling (Progressing) for
      // those 10 minutes instead of 30 s.
      const objects = world(
        young((object) => {
          setPath(object, "metadata.creationTimestamp", new Date(Date.now() + 600_000).toISOString());
          setPath(object, "status", {
            phase: "Pending",
            conditions: [
              {
                type: "Reconciling",
                status: "True",
                reason: "PipelineNotFound",
                message: "waiting for it to be created: …",
                lastTransitionTime: new Date(Date.now() - 31_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
              },
            ],
          });
        }),
      );
      objects.NearlinePipeline = [];
      const { calls, status } = await run(objects);
      expect(calls).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1", "event Warning PipelineNotFound"]);
      expect(status.conditions).toContainEqual(
        expect.objectContaining({ type: "Stalled", status: "True", reason: "PipelineNotFound" }),
      );
    });

    it("waits the same for a version its model's spec does not name yet (the model's change comes next)", async () => {
      const { calls, status } = await run(
        world(young((object) => setPath(object, "spec.modelVersion", "minilm-v2"))),
      );
      expect(calls).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
      expect(status.conditions).toContainEqual(
        expect.objectContaining({
          type: "Reconciling",
          status: "True",
          reason: "VersionNotServed",
          message: expect.stringMatching(
            /^spec\.modelVersion: EmbeddingModel jude-minilm does not serve version minilm-v2 .*; waiting up to 30 s from the run's creation for it/,
          ),
        }),
      );
    });

    it("stalls at once, however young, for what nothing applied with it would mend (a missing Secret)", async () => {
      const objects = world(young());
      objects.Secret = [];
      const { calls } = await run(objects);
      expect(calls).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1", "event Warning SecretNotFound"]);
    });
  });

  it("stalls, capturing nothing, when the model sets no sha256 for the version (nothing else supplies one)", async () => {
    const objects = world(stored("bootstrap-run.yaml", "run-uid") as KubeObject);
    objects.EmbeddingModel = [
      stored("embedding-model.yaml", "model-uid", (object) => {
        delete ((object.spec as { model: { sha256?: string } }).model as { sha256?: string }).sha256;
      }) as KubeObject,
    ];
    const calls = await reconcile(objects);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus BootstrapRun/jobs-minilm-v1",
      "event Warning ModelDigestUnknown",
    ]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
    expect(status.watermarks).toBeUndefined();
    expect(status.conditions).toContainEqual(
      expect.objectContaining({
        type: "Stalled",
        status: "True",
        reason: "ModelDigestUnknown",
        message: expect.stringMatching(
          /^EmbeddingModel jude-minilm sets no spec\.model\.sha256 for version minilm-v1: /,
        ),
      }),
    );
  });

  // Was: a run made by hand (or whose changelog was deleted before its first reconcile) let the capture's
  // error out of the reconcile: Ready False with reason ReconcileError quoting "topic … does not exist",
  // then Stalled ReconcileError after a minute of back-off, where the EmbeddingModel's gate says
  // TopicNotFound naming the pipeline, its field and the brokers, and looks again every 15 s.
  describe("a run whose pipeline's changelog topic does not exist", () => {
    const missing = (run: KubeObject) => {
      const { context, calls } = fakeContext(key, world(run));
      const result = reconcileBootstrapRun(context, {
        images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
        captureWatermarks: async () => {
          throw new ChangelogTopicMissing("jobs", "jobs.changelog", ["kafka-0:9092", "kafka-1:9092"], {
            cause: new Error("Unknown topic jobs.changelog."),
          });
        },
      });
      return { calls, result };
    };

    it("is Pending, Reconciling with reason TopicNotFound in the model's words, and looks again in 15 s", async () => {
      const { calls, result } = missing(stored("bootstrap-run.yaml", "run-uid") as KubeObject);
      expect(await result).toEqual({ requeueAfterMs: 15_000 });
      expect(summarizeCalls(calls)).toEqual([
        "applyStatus BootstrapRun/jobs-minilm-v1",
        "event Warning TopicNotFound",
      ]);
      const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status as {
        phase: string;
        watermarks?: unknown;
        conditions: { type: string; status: string; reason: string; message: string }[];
      };
      expect(status.phase).toBe("Pending");
      expect(status.watermarks).toBeUndefined();
      const byType = Object.fromEntries(status.conditions.map((each) => [each.type, each]));
      expect(byType.Ready).toMatchObject({ status: "False", reason: "TopicNotFound" });
      expect(byType.Reconciling).toMatchObject({ status: "True", reason: "TopicNotFound" });
      expect(byType.Stalled).toMatchObject({ status: "False" });
      expect(byType.Ready!.message).toBe(
        "NearlinePipeline jobs: spec.source.kafka.topic names topic jobs.changelog, which does not exist on Kafka at kafka-0:9092,kafka-1:9092: " +
          "JUDE never creates topics; create it, and the output and dead-letter topics the pipeline names (the operator looks again every 15 s)",
      );
      const warning = calls[1] as Extract<RecordedCall, { verb: "event" }>;
      expect(warning.message).toBe(byType.Ready!.message);
    });

    it("tells the Warning Event once while the topic stays missing", async () => {
      const first = missing(stored("bootstrap-run.yaml", "run-uid") as KubeObject);
      await first.result;
      const written = (first.calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status;
      const again = missing(
        stored("bootstrap-run.yaml", "run-uid", (object) => void (object.status = written)) as KubeObject,
      );
      expect(await again.result).toEqual({ requeueAfterMs: 15_000 });
      expect(summarizeCalls(again.calls)).toEqual(["applyStatus BootstrapRun/jobs-minilm-v1"]);
    });
  });
});

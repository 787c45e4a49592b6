// jude_bootstrap_failed as the reconcile records it: 1 for a Failed run, back to 0 once a later run of
// the same pipeline and version Succeeded (the JudeBootstrapFailed alert then resolves), whichever of
// the two runs is reconciled.
import { Registry, type Gauge } from "prom-client";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import { stored, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { imagesFor } from "../shared/image.ts";
import { reconcileBootstrapRun } from "./reconcile.ts";
import { bootstrapFailedGauge, bootstrapShardGauges } from "./run-metrics.ts";
import { zeroCounts, type CheckpointState } from "../../pipelines/bootstrap/checkpoint-codec.ts";

/** A run of the example's pipeline ("jobs"), finished with `phase`, created at `created`. */
function run(name: string, phase: "Failed" | "Succeeded", created: string, pipeline = "jobs"): KubeObject {
  return stored("bootstrap-run.yaml", `${name}-uid`, (object) => {
    const metadata = object.metadata as Record<string, unknown>;
    metadata.name = name;
    metadata.creationTimestamp = created;
    (object.spec as { pipelineRef: { name: string } }).pipelineRef.name = pipeline;
    object.status = { phase, observedGeneration: 1 };
  }) as KubeObject;
}

/** Reconciles `name` among `runs`; returns jude_bootstrap_failed by run name. */
async function failedAfterReconcile(name: string, runs: KubeObject[]): Promise<Record<string, number>> {
  const gauge = bootstrapFailedGauge(new Registry());
  const { context } = fakeContext({ namespace: testNamespace, name }, { BootstrapRun: runs });
  await reconcileBootstrapRun(context, {
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    failedGauge: gauge,
  });
  return Object.fromEntries((await gauge.get()).values.map(({ labels, value }) => [labels.name, value]));
}

const failed = run("jobs-minilm-v1", "Failed", "2026-12-01T10:00:00Z");
const retried = run("jobs-minilm-v1-retry", "Succeeded", "2026-12-01T11:00:00Z");

describe("jude_bootstrap_failed", () => {
  it("is 1 for a failed run with nothing after it", async () => {
    expect(await failedAfterReconcile("jobs-minilm-v1", [failed])).toEqual({ "jobs-minilm-v1": 1 });
  });

  it("is 0 for a failed run once a later run of its pipeline and version succeeded", async () => {
    expect(await failedAfterReconcile("jobs-minilm-v1", [failed, retried])).toMatchObject({
      "jobs-minilm-v1": 0,
    });
  });

  it("clears the failed run's series when the later run is the one reconciled", async () => {
    expect(await failedAfterReconcile("jobs-minilm-v1-retry", [failed, retried])).toEqual({
      "jobs-minilm-v1": 0,
      "jobs-minilm-v1-retry": 0,
    });
  });

  it("stays 1 when the success came before the failure, or was another pipeline's", async () => {
    const earlier = run("jobs-minilm-v1-first", "Succeeded", "2026-12-01T09:00:00Z");
    const otherPipeline = run("members-minilm-v1", "Succeeded", "2026-12-01T11:00:00Z", "members");
    expect(await failedAfterReconcile("jobs-minilm-v1", [failed, earlier, otherPipeline])).toMatchObject({
      "jobs-minilm-v1": 1,
    });
  });
});

// The shards open no port: what an operator must be alerted on (records not written, by code; a shard
// waiting on its embedding server) comes from their checkpoints, as the reconcile reads them.
describe("jude_bootstrap_dead_letters and jude_bootstrap_waiting_since_seconds", () => {
  const key = { namespace: testNamespace, name: "jobs-minilm-v1" };
  const world = (runs: KubeObject[]) => ({
    BootstrapRun: runs,
    NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
    EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
    Secret: [
      {
        kind: "Secret",
        metadata: { name: "jude-redis", namespace: testNamespace },
        data: { url: "cmVkaXM6Ly94" },
      },
    ],
  });
  const running = stored("bootstrap-run.yaml", "run-uid") as KubeObject;
  const shard = (overrides: Partial<CheckpointState>): CheckpointState => ({
    fingerprint: "f",
    phase: "running",
    attempt: 1,
    startedAtMs: 1_000,
    updatedAtMs: 2_000,
    units: { p0: { start: 0, end: 10, position: 5, done: false } },
    counts: zeroCounts(),
    ...overrides,
  });

  async function reconcileWith(
    gauges: ReturnType<typeof bootstrapShardGauges>,
    runs: KubeObject[],
    checkpoints: (CheckpointState | null)[],
  ): Promise<{ deadLetters: Record<string, number>; waiting: Record<string, number> }> {
    const { context } = fakeContext(key, world(runs));
    await reconcileBootstrapRun(context, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      captureWatermarks: async () => [{ partition: 0, offset: 10 }],
      readCheckpoints: async () => checkpoints,
      shardGauges: gauges,
    });
    const series = async (gauge: Gauge<string>, label: string) =>
      Object.fromEntries(
        (await gauge.get()).values.map(({ labels, value }) => {
          expect(labels).toMatchObject({ namespace: testNamespace, name: key.name, version: "minilm-v1" });
          return [labels[label], value];
        }),
      );
    return {
      deadLetters: await series(gauges.deadLetters, "code"),
      waiting: await series(gauges.waitingSince, "dependency"),
    };
  }

  it("sums the shards' records not written by code, says since when one waits, and drops both with the run", async () => {
    const gauges = bootstrapShardGauges(new Registry());
    const waiting = (sinceMs: number) => ({ dependency: "embedding", sinceMs, error: "INTERNAL" });
    const shards = [
      shard({
        counts: { ...zeroCounts(), failed: 2 },
        failedCodes: { EMBEDDING_FAILED: 2 },
        waiting: waiting(1_700_000_300_000),
      }),
      // An older shard image counts only the total: what it does not say is UNKNOWN.
      shard({
        counts: { ...zeroCounts(), failed: 5 },
        failedCodes: { NO_FIELDS: 1, EMBEDDING_FAILED: 1 },
        waiting: waiting(1_700_000_000_000),
      }),
    ];
    expect(await reconcileWith(gauges, [running], shards)).toEqual({
      deadLetters: { EMBEDDING_FAILED: 3, NO_FIELDS: 1, UNKNOWN: 3 },
      waiting: { embedding: 1_700_000_000 },
    });
    // The waits are over (a batch got through); the records not written stay counted.
    const over = shards.map((each) => ({ ...each, waiting: undefined }));
    expect(await reconcileWith(gauges, [running], over)).toEqual({
      deadLetters: { EMBEDDING_FAILED: 3, NO_FIELDS: 1, UNKNOWN: 3 },
      waiting: {},
    });
    // Checkpoints that cannot be read change nothing.
    await reconcileWith(gauges, [running], shards);
    const { context } = fakeContext(key, world([running]));
    await reconcileBootstrapRun(context, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      captureWatermarks: async () => [{ partition: 0, offset: 10 }],
      readCheckpoints: async () => {
        throw new Error("store down");
      },
      shardGauges: gauges,
    });
    expect((await gauges.waitingSince.get()).values.map(({ value }) => value)).toEqual([1_700_000_000]);
    // The run deleted: every series of it goes.
    expect(await reconcileWith(gauges, [], shards)).toEqual({ deadLetters: {}, waiting: {} });
  });

  it("drops a finished run's waits (a shard killed mid-wait leaves its wait in its checkpoint)", async () => {
    const gauges = bootstrapShardGauges(new Registry());
    const killed = shard({
      counts: { ...zeroCounts(), failed: 1 },
      failedCodes: { EMBEDDING_FAILED: 1 },
      waiting: { dependency: "embedding", sinceMs: 1_700_000_000_000, error: "UNAVAILABLE" },
    });
    expect((await reconcileWith(gauges, [running], [killed, null])).waiting).toEqual({
      embedding: 1_700_000_000,
    });
    const failed = stored("bootstrap-run.yaml", "run-uid", (object) => {
      object.status = { phase: "Failed", observedGeneration: 1 };
    }) as KubeObject;
    expect(await reconcileWith(gauges, [failed], [killed, null])).toEqual({
      deadLetters: { EMBEDDING_FAILED: 1 },
      waiting: {},
    });
  });
});

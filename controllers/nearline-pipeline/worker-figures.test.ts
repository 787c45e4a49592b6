import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { FreshnessWindow } from "../../pipelines/shared/freshness-sketch.ts";
import { collectPipelineProcessMetrics } from "../../pipelines/shared/metrics.ts";
import {
  parseConsumerLag,
  parseProcessStart,
  parseWorkerFreshness,
  parseWorkerReadyz,
  parseWorkerWait,
  versionStatus,
} from "./worker-figures.ts";

/** A worker's /readyz freshness (as pipelines/nearline/app.ts shows it) after writes of these ages. */
function freshnessOf(samplesMs: readonly number[]): unknown {
  const window = new FreshnessWindow();
  for (const sample of samplesMs) window.observe(sample, 5_000);
  return JSON.parse(JSON.stringify({ p95Ms: 0, samples: samplesMs.length, ...window.snapshot(5_000) }));
}

// What a worker serves (pipelines/shared/ops-server.ts with the worker's totals).
const readyz = {
  ready: true,
  consumed: 120,
  embedded: 90,
  skippedUnchanged: 20,
  skippedStale: 3,
  deleted: 5,
  deadLettered: 2,
  inferenceTexts: 88,
  batches: 7,
};
const metrics = `# HELP jude_pipeline_consumer_lag Records behind.
# TYPE jude_pipeline_consumer_lag gauge
jude_pipeline_consumer_lag{pipeline="recs/jobs",version="minilm-v1",partition="0"} 4
jude_pipeline_consumer_lag{pipeline="recs/jobs",version="minilm-v1",partition="1"} 0
jude_pipeline_consumer_lag{pipeline="recs/jobs",version="minilm-v1",partition="2"} 11
jude_pipeline_consumed_total{pipeline="recs/jobs",version="minilm-v1"} 120
`;

describe("worker figures", () => {
  it("reads a worker's totals from /readyz and rejects other bodies", () => {
    expect(parseWorkerReadyz(readyz)).toMatchObject({ consumed: 120, embedded: 90, deadLettered: 2 });
    expect(parseWorkerReadyz({ ready: false })).toBeUndefined();
    expect(parseWorkerReadyz("not json")).toBeUndefined();
  });

  it("reads what a worker's batch waits on from /readyz", () => {
    const waitingOn = { dependency: "store", seconds: 95, retries: 12, error: "Command timed out" };
    expect(parseWorkerWait({ ...readyz, waitingOn })).toEqual({
      dependency: "store",
      seconds: 95,
      error: "Command timed out",
    });
    expect(parseWorkerWait(readyz)).toBeUndefined();
  });

  it("reads the lag per partition from /metrics", () => {
    expect([...parseConsumerLag(metrics)]).toEqual([
      [0, 4],
      [1, 0],
      [2, 11],
    ]);
    expect(parseConsumerLag("jude_pipeline_consumed_total 3\n").size).toBe(0);
  });

  it("adds counts over workers and counts each partition's lag once", () => {
    const first = {
      counts: parseWorkerReadyz(readyz),
      lag: new Map([
        [0, 4],
        [1, 0],
      ]),
    };
    const second = {
      counts: parseWorkerReadyz({ ...readyz, consumed: 30, embedded: 10 }),
      lag: new Map([
        [0, 6],
        [2, 11],
      ]),
    };
    expect(versionStatus("minilm-v1", 2, [first, second])).toEqual({
      version: "minilm-v1",
      readyReplicas: 2,
      processed: 150,
      embedded: 100,
      skippedUnchanged: 40,
      deleted: 10,
      deadLettered: 4,
      lag: 6 + 0 + 11,
    });
  });

  it("reads the records a worker lost to retention and its store replays from /readyz", () => {
    // A worker's /readyz after the store lost acknowledged writes (pipelines/nearline/app.ts).
    const storeReplays = { replays: 2, replayedOffsets: 40, lost: 3 };
    expect(parseWorkerReadyz({ ...readyz, sourceRecordsLost: 3, storeReplays })).toMatchObject({
      sourceRecordsLost: 3,
      storeReplays,
    });
    // A worker of a release before them, or before its first replay.
    expect(parseWorkerReadyz(readyz)).toMatchObject({
      sourceRecordsLost: 0,
      storeReplays: { replays: 0, replayedOffsets: 0, lost: 0 },
    });
  });

  it("reads when the worker process started from /metrics (a restart begins its counters again)", async () => {
    // The process metrics a worker exports (pipelines/nearline/app.ts).
    const registry = new Registry();
    collectPipelineProcessMetrics(registry);
    const started = parseProcessStart(`${metrics}${await registry.metrics()}`);
    expect(started).toBeCloseTo((Date.now() - process.uptime() * 1000) / 1000, -1);
    expect(parseProcessStart(metrics)).toBeUndefined();
  });

  it("reads a worker's freshness sketch from /readyz and ignores bodies without a valid one", () => {
    const sketch = parseWorkerFreshness({ ...readyz, freshness: freshnessOf([120, 130, 900]) });
    expect(sketch?.windowMs).toBe(60_000);
    expect(Object.values(sketch!.buckets).reduce((a, b) => a + b, 0)).toBe(3);
    expect(parseWorkerFreshness(readyz)).toBeUndefined();
    expect(
      parseWorkerFreshness({ freshness: { gamma: 1.02, windowMs: 1, buckets: { x: 1 } } }),
    ).toBeUndefined();
  });

  it("writes the 95th percentile of every worker's freshness samples together", () => {
    // 95 fast writes on one worker, 5 slow ones on the other: the p95 (nearest rank) is the 95th sample.
    const fast = { freshness: parseWorkerFreshness({ freshness: freshnessOf(Array(95).fill(200)) }) };
    const slow = {
      freshness: parseWorkerFreshness({ freshness: freshnessOf([4_000, 4_100, 4_200, 4_300, 4_400]) }),
    };
    expect(versionStatus("minilm-v1", 2, [fast, slow]).freshnessP95Ms).toBeCloseTo(200, -1);
    const slower = { freshness: parseWorkerFreshness({ freshness: freshnessOf(Array(6).fill(5_000)) }) };
    expect(versionStatus("minilm-v1", 2, [fast, slower]).freshnessP95Ms).toBeCloseTo(5_000, -2);
  });

  it("leaves freshness unset when no worker wrote anything in the last minute", () => {
    const idle = { freshness: parseWorkerFreshness({ freshness: freshnessOf([]) }) };
    expect(idle.freshness).toBeDefined();
    expect(versionStatus("minilm-v1", 1, [idle, {}]).freshnessP95Ms).toBeUndefined();
  });

  it("leaves figures unset when no worker could be read", () => {
    expect(versionStatus("minilm-v1", 0, [{}, {}])).toEqual({ version: "minilm-v1", readyReplicas: 0 });
  });
});

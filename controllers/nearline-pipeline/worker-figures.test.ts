import { describe, expect, it } from "vitest";
import { parseConsumerLag, parseWorkerReadyz, versionStatus } from "./worker-figures.ts";

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

  it("leaves figures unset when no worker could be read", () => {
    expect(versionStatus("minilm-v1", 0, [{}, {}])).toEqual({ version: "minilm-v1", readyReplicas: 0 });
  });
});

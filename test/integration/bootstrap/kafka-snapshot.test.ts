/**
 * The Kafka snapshot: read from the start of each partition up to the watermarks fixed at run start;
 * the latest value of a key wins, a tombstone deletes the key (written as a tombstone), and nothing
 * produced after the watermarks is read, whether the operator captured them or the shard did at its first start.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KafkaRangeReader } from "../../../pipelines/bootstrap/kafka-range.ts";
import { kafkaClientOptions } from "../../../pipelines/shared/kafka.ts";
import { getVersion } from "../../../store/index.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import {
  createBootstrapStore,
  jobDocument,
  readBack,
  renderJob,
  runShardInProcess,
  shardConfig,
  shardDocument,
} from "./helpers.ts";
import { countingEmbed, startServedEmbedder, type ServedEmbedder } from "./served-embed.ts";

const brokers = (): string[] => [requireEnv("JUDE_KAFKA_BOOTSTRAP")];
const job = (id: number, title: string) => ({
  key: `job-${id}`,
  value: { id: `job-${id}`, title, company: "Acme" },
});

async function captureWatermarks(topic: string) {
  const reader = new KafkaRangeReader(
    kafkaClientOptions({ bootstrapServers: brokers() }, "test-watermarks"),
    topic,
  );
  try {
    return await reader.captureWatermarks();
  } finally {
    await reader.close();
  }
}

describe("bootstrap Kafka snapshot (real Kafka, Redis and model)", () => {
  let model: ServedEmbedder;
  beforeAll(async () => {
    model = await startServedEmbedder();
  });
  afterAll(async () => {
    await model?.close();
  });

  it("keeps the latest value per key, writes tombstoned keys as tombstones and reads nothing after the watermarks", async () => {
    const topic = uniqueTopic("bootstrap-snapshot");
    await createTopics([topic], 2);
    await produceEvents(topic, [
      ...Array.from({ length: 20 }, (_, id) => job(id, `Title ${id}`)),
      job(7, "Title 7 revised"),
      { key: "job-5", value: null },
      job(9, "Title 9 deleted then back"),
    ]);
    await produceEvents(topic, [{ key: "job-9", value: null }, job(9, "Title 9 back")]);
    const watermarks = await captureWatermarks(topic);
    // At least 25: the test producer is at-least-once, so a retried send may repeat records (harmless:
    // the same sequence again leaves the same latest values).
    const captured = watermarks.reduce((sum, each) => sum + each.offset, 0);
    expect(captured).toBeGreaterThanOrEqual(25);
    // After the capture: the new version's nearline workers own these.
    await produceEvents(topic, [
      job(1, "Title 1 too late"),
      job(100, "Brand new too late"),
      { key: "job-2", value: null },
    ]);

    const target = await createBootstrapStore("snapshot");
    try {
      const counter = countingEmbed(model.embed);
      const config = shardConfig(
        shardDocument({
          storeName: target.name,
          run: "snapshot",
          source: { kafka: { bootstrapServers: brokers(), topic, watermarks } },
          shards: { count: 1, index: 0 },
        }),
      );
      const outcome = await runShardInProcess(config, counter.embed);
      expect(outcome.outcome).toBe("done");
      const ids = [...Array.from({ length: 20 }, (_, id) => `job-${id}`), "job-100"];
      const stored = await readBack(target.store, ids);
      const hashOf = (title: string) => renderJob({ title, company: "Acme" }).hash;
      // A tombstone at the delete's own position (as nearline writes it), so the key's older update
      // on another partition, or in the store from an earlier run, cannot keep it alive.
      expect(stored.get("job-5")).toMatchObject({ meta: { live: false, contentHash: "" }, vector: null });
      expect(stored.get("job-100")).toEqual({ meta: null, vector: null });
      expect(stored.get("job-7")!.meta!.contentHash).toBe(hashOf("Title 7 revised"));
      expect(stored.get("job-9")!.meta!.contentHash).toBe(hashOf("Title 9 back"));
      expect(stored.get("job-1")!.meta!.contentHash).toBe(hashOf("Title 1"));
      expect(stored.get("job-2")!.vector).not.toBeNull();
      const live = ids.filter((id) => stored.get(id)!.vector !== null);
      expect(live).toHaveLength(19);
      expect(new Set(counter.texts)).toEqual(
        new Set(live.map((id) => renderJob({ title: titleOf(id), company: "Acme" }).text)),
      );
      // job-9 was deleted and came back: only job-5's latest record is a delete.
      expect(outcome.state.counts).toMatchObject({ processed: captured, written: 19, deleted: 1 });
    } finally {
      await target.drop();
    }
  });

  it("captures watermarks at first start, keeps them across an interruption, and redoes nothing", async () => {
    const topic = uniqueTopic("bootstrap-capture");
    await createTopics([topic], 3);
    const distinct = 50;
    await produceEvents(
      topic,
      Array.from({ length: 300 }, (_, id) => ({ key: `job-${id}`, value: jobDocument(id, distinct) })),
    );
    const target = await createBootstrapStore("capture");
    try {
      const document = shardDocument({
        storeName: target.name,
        run: "capture",
        source: { kafka: { bootstrapServers: brokers(), topic } },
        shards: { count: 1, index: 0 },
        extra: { batching: { maxEntities: 16, inflightBatches: 2 } },
      });
      // SIGTERM stand-in, on the third inference. Two batches are in flight at a time, so the third
      // starts only once the first is checkpointed; the call in flight is cancelled and its batch (and
      // the second, if it was still embedding) left to the resumed run.
      const abort = new AbortController();
      let calls = 0;
      const first = countingEmbed(async (texts, signal) => {
        if (++calls === 3) abort.abort();
        return model.embed(texts, signal);
      });
      const interrupted = await runShardInProcess(shardConfig(document), first.embed, abort.signal);
      expect(interrupted.outcome).toBe("interrupted");
      const checkpoints = new CheckpointStore(
        target.client,
        checkpointKey(`jude:${target.name}`, { namespace: "test", name: "capture" }, 0),
        60,
      );
      const saved = await checkpoints.load();
      expect(saved).toMatchObject({ phase: "interrupted", attempt: 1 });
      const captured = saved!.watermarks!.partitions.reduce((sum, each) => sum + each.offset, 0);
      expect(captured).toBeGreaterThanOrEqual(300); // at-least-once test producer, as above
      expect(saved!.counts.written).toBeGreaterThan(0);
      expect(saved!.counts.written).toBeLessThan(300);

      await produceEvents(topic, [
        job(1, "Changed after the run started"),
        job(999, "Created after the run started"),
      ]);
      const second = countingEmbed(model.embed);
      const resumed = await runShardInProcess(shardConfig(document), second.embed);
      expect(resumed).toMatchObject({ outcome: "done", resumed: true });
      expect(resumed.state.attempt).toBe(2);
      expect(resumed.state.counts).toMatchObject({ processed: captured, inferenceTexts: distinct });
      // A batch abandoned after its write is written again by the resumed run and found in place.
      expect(resumed.state.counts.written + resumed.state.counts.stale).toBe(300);
      // Texts finished before the interruption were not embedded again.
      expect(first.texts.length + second.texts.length).toBe(distinct);
      const stored = await readBack(target.store, ["job-1", "job-999"]);
      expect(stored.get("job-1")!.meta!.contentHash).toBe(renderJob(jobDocument(1, distinct)).hash);
      expect(stored.get("job-999")!.meta).toBeNull();
    } finally {
      await target.drop();
    }
  });

  it("writes only the entities in scope and leaves the version building", async () => {
    const topic = uniqueTopic("bootstrap-scope");
    await createTopics([topic], 1);
    await produceEvents(
      topic,
      Array.from({ length: 10 }, (_, id) => job(id, `Title ${id}`)),
    );
    const target = await createBootstrapStore("scope");
    try {
      const config = shardConfig(
        shardDocument({
          storeName: target.name,
          run: "scope",
          source: { kafka: { bootstrapServers: brokers(), topic } },
          shards: { count: 1, index: 0 },
          extra: { scope: { ids: ["job-1", "job-7", "job-42"] } },
        }),
      );
      const outcome = await runShardInProcess(config, model.embed);
      expect(outcome.outcome).toBe("done");
      expect(outcome.state.counts).toMatchObject({ written: 2, skipped: 8 });
      const stored = await readBack(target.store, ["job-1", "job-2", "job-7"]);
      expect([...stored.values()].map((each) => each.vector !== null)).toEqual([true, false, true]);
      expect((await getVersion(target.store, "v2"))?.state).toBe("building");
    } finally {
      await target.drop();
    }
  });
});

function titleOf(id: string): string {
  if (id === "job-7") return "Title 7 revised";
  if (id === "job-9") return "Title 9 back";
  return `Title ${id.slice(4)}`;
}

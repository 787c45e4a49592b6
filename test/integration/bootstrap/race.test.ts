/**
 * A bootstrap racing a nearline worker on the same version: the nearline processor writes newer events
 * of two keys, one before the shard reads the store and one after it checked but before it wrote. Both
 * newer values survive; the shard's older snapshot values lose (counted as stale).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProcessor } from "../../../pipelines/nearline/processor.ts";
import { KafkaRangeReader } from "../../../pipelines/bootstrap/kafka-range.ts";
import { kafkaClientOptions } from "../../../pipelines/shared/kafka.ts";
import { StoreWriter } from "../../../store/index.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import {
  DIGEST,
  EXTRACT,
  TEMPLATE,
  VERSION,
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

describe("bootstrap racing nearline (real Kafka, Redis and model)", () => {
  let model: ServedEmbedder;
  beforeAll(async () => {
    model = await startServedEmbedder();
  });
  afterAll(async () => {
    await model?.close();
  });

  it("never overwrites a fresher nearline write", async () => {
    const topic = uniqueTopic("bootstrap-race");
    await createTopics([topic], 1);
    await produceEvents(
      topic,
      Array.from({ length: 100 }, (_, id) => ({ key: `job-${id}`, value: jobDocument(id, 20) })),
    );
    const reader = new KafkaRangeReader(kafkaClientOptions({ bootstrapServers: brokers() }, "race"), topic);
    const watermarks = await reader.captureWatermarks();
    await reader.close();

    const target = await createBootstrapStore("race");
    try {
      const nearline = createProcessor({
        entity: "job",
        modelVersion: VERSION,
        modelDigest: DIGEST,
        template: TEMPLATE,
        extract: EXTRACT,
        decode: { keyPath: "$.id" },
        changeDetection: true,
        store: new StoreWriter(target.store),
        embed: (texts) => model.embed([...texts]),
        produce: async () => undefined,
      });
      // Events after the watermark, as the new version's nearline worker consumes them.
      const later = Date.now() + 60_000;
      const nearlineEvent = (id: number, offset: number, title: string) => ({
        topic,
        partition: 0,
        offset: BigInt(offset),
        timestamp: BigInt(later + offset),
        key: Buffer.from(`job-${id}`),
        value: Buffer.from(JSON.stringify({ id: `job-${id}`, title, company: "Acme" })),
      });
      await nearline([nearlineEvent(3, 100, "Nearline before")]);

      let raced = false;
      const counter = countingEmbed(async (texts, signal) => {
        // The shard has read the store's metadata for its only batch; nearline lands before it writes.
        if (!raced) {
          raced = true;
          await nearline([nearlineEvent(50, 101, "Nearline during")]);
        }
        return model.embed(texts, signal);
      });
      const config = shardConfig(
        shardDocument({
          storeName: target.name,
          run: "race",
          source: { kafka: { bootstrapServers: brokers(), topic, watermarks } },
          shards: { count: 1, index: 0 },
          extra: { batching: { maxEntities: 500, inflightBatches: 1 } },
        }),
      );
      const outcome = await runShardInProcess(config, counter.embed);
      expect(outcome.outcome).toBe("done");
      expect(outcome.state.counts).toMatchObject({ entities: 100, written: 98, stale: 2 });

      const stored = await readBack(target.store, ["job-3", "job-50", "job-4"]);
      const [before, during] = await model.embed([
        "Job: Nearline before at Acme",
        "Job: Nearline during at Acme",
      ]);
      const close = (a: Float32Array | null, b: Float32Array) =>
        a !== null && Array.from(a).every((value, d) => Math.abs(value - b[d]!) < 1e-4);
      expect(stored.get("job-3")!.meta).toMatchObject({
        offset: 100,
        contentHash: renderJob({ title: "Nearline before", company: "Acme" }).hash,
      });
      expect(close(stored.get("job-3")!.vector, before!)).toBe(true);
      expect(stored.get("job-50")!.meta).toMatchObject({
        offset: 101,
        contentHash: renderJob({ title: "Nearline during", company: "Acme" }).hash,
      });
      expect(close(stored.get("job-50")!.vector, during!)).toBe(true);
      expect(stored.get("job-4")!.meta).toMatchObject({
        live: true,
        contentHash: renderJob(jobDocument(4, 20)).hash,
      });
    } finally {
      await target.drop();
    }
  });
});

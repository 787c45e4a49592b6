/**
 * Dedup across shards: entities whose texts repeat 6 times, split over shards that run at the same
 * time, cost exactly one inference per distinct text (counted at the embedding boundary), and every
 * entity still gets the vector of its own text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countVersion, getVersion } from "../../../store/index.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
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

const DISTINCT = 60;
const ENTITIES = DISTINCT * 6;
const SHARDS = 3;

describe("bootstrap dedup (real Kafka, Redis and model)", () => {
  let model: ServedEmbedder;
  let topic: string;

  beforeAll(async () => {
    model = await startServedEmbedder();
    topic = uniqueTopic("bootstrap-dedup");
    await createTopics([topic], 6);
    await produceEvents(
      topic,
      Array.from({ length: ENTITIES }, (_, id) => ({ key: `job-${id}`, value: jobDocument(id, DISTINCT) })),
    );
  });
  afterAll(async () => {
    await model?.close();
  });

  it.each(["standalone", "cluster"] as const)(
    "embeds each distinct text once across shards running at once (%s Redis)",
    async (deployment) => {
      const target = await createBootstrapStore("dedup", deployment);
      try {
        const counters = Array.from({ length: SHARDS }, () => countingEmbed(model.embed));
        const configs = counters.map((_, index) =>
          shardConfig(
            shardDocument({
              storeName: target.name,
              store: target.section,
              run: "dedup",
              source: { kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic } },
              shards: { count: SHARDS, index },
            }),
          ),
        );
        const outcomes = await Promise.all(
          configs.map((config, index) => runShardInProcess(config, counters[index]!.embed)),
        );
        expect(outcomes.map((each) => each.outcome)).toEqual(["done", "done", "done"]);

        const embedded = counters.flatMap((counter) => counter.texts);
        expect(embedded).toHaveLength(DISTINCT);
        expect(new Set(embedded).size).toBe(DISTINCT);
        const counts = outcomes.map((each) => each.state.counts);
        expect(counts.reduce((sum, each) => sum + each.inferenceTexts, 0)).toBe(DISTINCT);
        expect(counts.reduce((sum, each) => sum + each.embedded, 0)).toBe(DISTINCT);
        expect(counts.reduce((sum, each) => sum + each.deduplicated, 0)).toBe(ENTITIES - DISTINCT);
        expect(counts.reduce((sum, each) => sum + each.written, 0)).toBe(ENTITIES);

        // Every entity holds exactly the vector of its own text, at its Kafka position.
        const ids = Array.from({ length: ENTITIES }, (_, id) => `job-${id}`);
        const stored = await readBack(target.store, ids);
        const reference = await model.embed(
          Array.from({ length: DISTINCT }, (_, id) => renderJob(jobDocument(id, DISTINCT)).text),
        );
        ids.forEach((id, index) => {
          const { meta, vector } = stored.get(id)!;
          expect(meta).toMatchObject({
            live: true,
            contentHash: renderJob(jobDocument(index, DISTINCT)).hash,
          });
          expect(meta!.partition).toBeGreaterThanOrEqual(0);
          const expected = reference[index % DISTINCT]!;
          expect(Array.from(vector!).every((value, d) => Math.abs(value - expected[d]!) < 1e-4)).toBe(true);
        });
        expect(await countVersion(target.store, "v2")).toMatchObject({ live: ENTITIES, texts: DISTINCT });
        // The last shard to finish marks the version complete.
        expect((await getVersion(target.store, "v2"))?.state).toBe("complete");
      } finally {
        await target.drop();
      }
    },
  );

  it("embeds every entity's text when dedupe is off", async () => {
    const target = await createBootstrapStore("nodedup");
    try {
      const counter = countingEmbed(model.embed);
      const config = shardConfig(
        shardDocument({
          storeName: target.name,
          run: "nodedup",
          source: { kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic } },
          shards: { count: 1, index: 0 },
          extra: { dedupe: false },
        }),
      );
      const outcome = await runShardInProcess(config, counter.embed);
      expect(outcome.outcome).toBe("done");
      expect(counter.texts).toHaveLength(ENTITIES);
      expect(outcome.state.counts).toMatchObject({ written: ENTITIES, deduplicated: 0, embedded: ENTITIES });
    } finally {
      await target.drop();
    }
  });
});

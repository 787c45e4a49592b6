/**
 * The output topic as offline training reads it when it is compacted (the usual choice for a topic
 * of latest vectors): during a promotion two versions' workers write to it, and pipelines of several
 * entity types may share it with ids in common. Compaction keeps the last record of each key, so the
 * key must name all three (entity, version, id) or one version's (or entity's) latest vector is lost.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { NearlineApp } from "../../../pipelines/nearline/app.ts";
import type { OutputRecordValue } from "../../../pipelines/nearline/output-schema.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import {
  committedOffsets,
  createTopics,
  produceEvents,
  readAll,
  readToEnd,
  uniqueTopic,
} from "../../support/kafka.ts";
import { jobEvent, nearlineConfig, startInProcessNearline } from "../../support/nearline.ts";
import { schemaValid } from "../../support/nearline-sinks.ts";
import { waitFor } from "../../testbed/wait.ts";

const topic = uniqueTopic("nl-compact-src");
const outputTopic = uniqueTopic("nl-compact-out");
/** Two versions of the job pipeline (a promotion) and a member pipeline, all into one output topic. */
const writers = [
  { entity: "job", version: "minilm-v1" },
  { entity: "job", version: "minilm-v2" },
  { entity: "member", version: "minilm-v1" },
];
let embedding: TestEmbeddingServer;
const workers: { app: NearlineApp; closeConnection: () => void; group: string }[] = [];

beforeAll(async () => {
  embedding = await startTestEmbeddingServer("minilm-v1");
  await createTopics([topic], 1);
  // Compacted, with segments that roll and get cleaned within seconds.
  await createTopics([outputTopic], 1, {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.001",
    "min.compaction.lag.ms": "0",
  });
  const storeName = uniqueTopic("nl-compact").slice(0, 40).toLowerCase();
  for (const { entity, version } of writers) {
    const config = nearlineConfig({
      topic,
      outputTopic,
      storeName,
      version,
      digest: embedding.digest,
      embeddingAddress: embedding.address,
    });
    const group = `${topic}-${entity}-${version}`;
    workers.push({
      ...(await startInProcessNearline({
        ...config,
        entity,
        source: { ...config.source, kafka: { ...config.source.kafka, consumerGroup: group } },
      })),
      group,
    });
  }
});
afterAll(async () => {
  for (const { app, closeConnection } of workers) {
    await app.stop();
    closeConnection();
  }
  await embedding?.server.close();
});

async function send(events: Parameters<typeof produceEvents>[1]): Promise<void> {
  await produceEvents(topic, events);
  const end = (await readAll(topic)).length;
  await waitFor(
    `every worker to commit ${end} records`,
    async () =>
      (await Promise.all(workers.map(({ group }) => committedOffsets(group, topic)))).every((n) => n === end),
    { timeoutMs: 90_000, intervalMs: 200 },
  );
}

it("keeps every version's and every entity's latest record of an id", async () => {
  await send([
    jobEvent("1", 1000, { title: "Nurse", company: "Umbrella", skills: [] }),
    jobEvent("2", 1000, { title: "Pilot", company: "Wayne", skills: [] }),
  ]);
  await send([
    jobEvent("1", 2000, { title: "Head Nurse", company: "Umbrella", skills: [] }),
    jobEvent("2", 2000, { op: "d" }),
  ]);
  // A later record rolls the segment holding the others, so the cleaner can compact it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  await send([jobEvent("3", 3000, { title: "Cook", company: "Soylent", skills: [] })]);

  // Each writer's first records of ids 1 and 2 are superseded by its own later ones: once compaction
  // removed those, what is left is what a consumer reading the compacted topic sees.
  const superseded = (value: OutputRecordValue) => value.eventTime === new Date(1000).toISOString();
  let left: OutputRecordValue[] = [];
  await waitFor(
    "the cleaner to compact the output topic",
    async () => {
      left = schemaValid(await readToEnd(outputTopic));
      return !left.some(superseded);
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  const latest = (value: OutputRecordValue) =>
    `${value.entity}/${value.version}/${value.id}@${value.eventTime}/${value.op}`;
  const at2000 = new Date(2000).toISOString();
  expect(
    left
      .filter((value) => value.id !== "3")
      .map(latest)
      .sort(),
  ).toEqual(
    writers
      .flatMap(({ entity, version }) => [
        `${entity}/${version}/1@${at2000}/upsert`,
        `${entity}/${version}/2@${at2000}/delete`,
      ])
      .sort(),
  );
});

/**
 * The nearline path end to end on real components: Kafka changelog -> worker -> real embedding server
 * (all-MiniLM-L6-v2) -> versioned Redis store (standalone and cluster) + output and dead-letter topics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NearlineApp } from "../../../pipelines/nearline/app.ts";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import {
  connectRedis,
  openStore,
  parseClusterNodes,
  StoreReader,
  type RedisClient,
  type Store,
} from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createTopics, produceEvents, readTopic, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  nearlineConfig,
  type RedisMode,
  startInProcessNearline,
} from "../../support/nearline.ts";
import { schemaValid } from "../../support/nearline-sinks.ts";
import { jobText } from "../../support/nearline-oracle.ts";
import {
  parseWorkerFreshness,
  versionStatus,
} from "../../../controllers/nearline-pipeline/worker-figures.ts";
import { bucketValue } from "../../../pipelines/shared/freshness-sketch.ts";
import { probe } from "../../testbed/http-probe.ts";
import { waitFor } from "../../testbed/wait.ts";
import { cosine } from "../serving/helpers.ts";

const version = "minilm-v1";
let embedding: TestEmbeddingServer;
let client: EmbeddingClient;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  client = new EmbeddingClient({ address: embedding.address });
});
afterAll(async () => {
  client?.close();
  await embedding?.server.close();
});

describe.each<RedisMode>(["standalone", "cluster"])("nearline on %s Redis", (mode) => {
  let app: NearlineApp;
  let redis: RedisClient;
  let store: Store;
  let closeConnection: (() => void) | undefined;
  const topic = uniqueTopic(`nl-src-${mode}`);
  const outputTopic = uniqueTopic(`nl-out-${mode}`);
  const deadLetterTopic = uniqueTopic(`nl-dlq-${mode}`);
  const produced: TestEvent[] = [];

  async function send(events: TestEvent[]): Promise<void> {
    produced.push(...events);
    const target = app.worker.totals.consumed + events.length;
    await produceEvents(topic, events);
    await waitFor(`the worker to consume ${target} events`, () => app.worker.totals.consumed >= target, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
  }

  beforeAll(async () => {
    await createTopics([topic, outputTopic, deadLetterTopic], 2);
    const config = nearlineConfig({
      topic,
      outputTopic,
      deadLetterTopic,
      mode,
      version,
      digest: embedding.digest,
      embeddingAddress: embedding.address,
    });
    ({ app, closeConnection } = await startInProcessNearline(config));
    redis =
      mode === "cluster"
        ? connectRedis({ clusterNodes: parseClusterNodes(requireEnv("JUDE_REDIS_CLUSTER_NODES")) })
        : connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
    store = await openStore(redis, { name: config.sinks.store.name });
  });
  afterAll(async () => {
    await app?.stop();
    closeConnection?.();
    await redis?.quit();
  });

  it("embeds creates and updates, skips no-op updates, and deletes", async () => {
    await send([
      jobEvent("j1", 1000, { title: "Registered Nurse", company: "Umbrella Health", skills: ["ICU"] }),
      jobEvent("j2", 1000, { title: "Data Scientist", company: "Globex", skills: ["Python", "SQL"] }),
    ]);
    await send([
      jobEvent("j1", 2000, { title: "Head Nurse", company: "Umbrella Health", skills: ["ICU"] }),
      // Same text after normalisation; only a field outside the prompt and whitespace change.
      jobEvent("j2", 2000, {
        title: "  Data   Scientist ",
        company: "Globex",
        skills: ["Python", "SQL"],
        views: 10,
      }),
      jobEvent("j3", 2000, { title: "Barista", company: "Soylent", skills: [] }),
    ]);
    await send([jobEvent("j3", 3000, { op: "d" })]);

    // Delivery is at least once: a redelivered event may be counted again as skipped, never re-embedded.
    const totals = app.worker.totals;
    expect(totals).toMatchObject({ embedded: 4, deleted: 1, deadLettered: 0, inferenceTexts: 4 });
    expect(totals.skippedUnchanged).toBeGreaterThanOrEqual(1);
    expect(totals.skippedUnchanged + totals.skippedStale).toBe(totals.consumed - 5);
    await expectStoreMatches(store, version, expectedFinalState(produced, version));

    // The stored vector is the server's embedding of the rendered prompt, tagged with its version and digest.
    const [hit] = await readVectors(["j1"]);
    const [reference] = (await client.embed(["Job: Head Nurse at Umbrella Health. Skills: ICU"])).vectors;
    expect(cosine(hit!, reference!)).toBeGreaterThan(0.9999);
  });

  it("never lets an out-of-order replay overwrite a newer vector or revive a deleted key", async () => {
    const before = app.worker.totals.skippedStale;
    await send([
      jobEvent("j1", 1500, { title: "Nurse (stale replay)", company: "Umbrella Health", skills: [] }),
      jobEvent("j3", 2500, { title: "Barista (stale replay)", company: "Soylent", skills: [] }),
    ]);
    expect(app.worker.totals.skippedStale - before).toBeGreaterThanOrEqual(2); // at least once: a redelivery is stale too
    await expectStoreMatches(store, version, expectedFinalState(produced, version));
  });

  it("dead-letters malformed events with their reason and keeps the stream flowing", async () => {
    await send([
      { key: "bad-1", value: "{not json" },
      jobEvent("j4", 4000, { title: "Pilot", company: "Wayne Logistics", skills: ["A320"] }),
      { key: "bad-2", value: { jobId: "x", updatedAt: "yesterday", title: "t" } },
    ]);
    expect(app.worker.totals.deadLettered).toBeGreaterThanOrEqual(2);
    await expectStoreMatches(
      store,
      version,
      expectedFinalState(
        produced.filter((e) => !e.key.startsWith("bad")),
        version,
      ),
    );

    const dead = await readTopic(deadLetterTopic, 2);
    const byKey = new Map(dead.map((record) => [record.key, record]));
    expect(byKey.get("bad-1")?.headers["jude.error.code"]).toBe("INVALID_JSON");
    expect(byKey.get("bad-1")?.headers["jude.error.reason"]).toMatch(/^value is not JSON/);
    expect(byKey.get("bad-1")?.value?.toString()).toBe("{not json");
    expect(byKey.get("bad-2")?.headers["jude.error.code"]).toBe("INVALID_EVENT_TIME");
  });

  it("produces vectors for offline training with model digest, template hash and source position", async () => {
    const records = await readTopic(outputTopic, 6);
    // Every record read back from Kafka is valid against the published output-record.schema.json.
    const values = schemaValid(records);
    expect(values.length).toBeGreaterThanOrEqual(6);
    const j1 = values.filter((value) => value.id === "j1");
    expect(j1.map((value) => value.eventTime)).toEqual([
      new Date(1000).toISOString(),
      new Date(2000).toISOString(),
    ]);
    const latest = j1[1]!;
    expect(latest).toMatchObject({
      entity: "job",
      op: "upsert",
      version,
      modelDigest: embedding.digest,
      dimensions: 384,
    });
    expect(latest.templateHash).toMatch(/^[a-f0-9]{16}$/);
    expect(latest.source).toMatchObject({ topic });
    const vector = new Float32Array(Uint8Array.from(Buffer.from(latest.vector!, "base64")).buffer);
    expect(vector).toHaveLength(384);
    const deleted = values.find((value) => value.id === "j3" && value.op === "delete");
    expect(deleted).toMatchObject({ vector: null });
  });

  it("reports its consumer lag per partition and its freshness on /readyz, as the operator reads them", async () => {
    let readyz: {
      ready?: boolean;
      consumed?: number;
      lag?: { total: number; partitions: Record<string, number> };
      freshness?: { p95Ms?: number };
    } = {};
    // The lag is measured every 5 s, and a measurement stands until the next one: one taken while an
    // earlier test's batch was in flight (likely on a loaded machine, where the tests above outlast
    // the first measurement) still shows that batch. The worker has caught up, so the next one is 0.
    await waitFor(
      "/readyz to carry the lag of both partitions, measured since the worker caught up",
      async () => {
        readyz = JSON.parse((await probe(`http://127.0.0.1:${app.ops.port}/readyz`)).body);
        return Object.keys(readyz.lag?.partitions ?? {}).length === 2 && readyz.lag?.total === 0;
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last /readyz: ${JSON.stringify(readyz)}`, {
        cause: error,
      });
    });
    expect(readyz).toMatchObject({ ready: true, lag: { total: 0, partitions: { "0": 0, "1": 0 } } });
    expect(readyz.consumed).toBe(app.worker.totals.consumed);

    // A change with a current event time, so the last minute holds a sample of a known age.
    const sentAt = Date.now();
    await send([jobEvent("j-fresh", sentAt, { title: "Fresh role", company: "Acme", skills: [] })]);
    const writtenBy = Date.now();
    readyz = JSON.parse((await probe(`http://127.0.0.1:${app.ops.port}/readyz`)).body);
    // What the operator makes of the body: the pipeline status figure; a missing one fails here.
    const sketch = parseWorkerFreshness(readyz);
    const status = versionStatus(version, 1, [{ freshness: sketch }]);
    expect(status.freshnessP95Ms).toBe(readyz.freshness?.p95Ms);
    expect(status.freshnessP95Ms).toBeGreaterThan(0);
    // The earlier changes carry 1970 event times; the fresh one is the smallest sample, and it was
    // written within the time this test waited for it (give or take the sketch's 1%).
    const smallest = Math.min(...Object.keys(sketch!.buckets).map(Number));
    expect(bucketValue(smallest)).toBeLessThanOrEqual((writtenBy - sentAt) * 1.01 + 1);
  });

  it("embeds a text longer than the model's token limit by its first tokens, and keeps going", async () => {
    // 400 skills render to well over the model's 256 tokens; a long job description does the same.
    const fields = {
      title: "Staff Engineer",
      company: "Initech",
      skills: Array.from({ length: 400 }, (_, index) => `skill-${index}`),
    };
    await send([
      jobEvent("j-long", 5000, fields),
      jobEvent("j-after-long", 5000, { title: "Welder", company: "Acme", skills: [] }),
    ]);
    const live = produced.filter((event) => !event.key.startsWith("bad")); // dead-lettered above
    await expectStoreMatches(store, version, expectedFinalState(live, version));
    const [stored] = await readVectors(["j-long"]);
    const [reference] = (await client.embed([jobText(fields)], { truncate: true })).vectors;
    expect(cosine(stored!, reference!)).toBeGreaterThan(0.9999);
  });

  async function readVectors(ids: string[]): Promise<Float32Array[]> {
    const reader = await StoreReader.open(store, { subscribe: false, refreshIntervalMs: 0 });
    try {
      const hits = await reader.getMany("job", ids, { version });
      return hits.map((hit) => hit!.vector);
    } finally {
      await reader.close();
    }
  }
});

/**
 * The embedding server failing a call itself (gRPC INTERNAL or UNKNOWN) never stops a worker, never
 * loses an event and never sends the whole stream to the dead-letter topic. A gRPC server in front of
 * the real `jude serve` answers INTERNAL for calls the test chooses:
 *   - for one text only (a record the model cannot take): after a few attempts and a probe the server
 *     answers, the batch is halved until that text stands alone; its event alone is dead-lettered
 *     (EMBEDDING_FAILED, with the status and message), the others are stored, the offsets committed;
 *   - for every call (a broken server): nothing is dead-lettered or stored, the batch stays
 *     uncommitted, /readyz says the worker waits on the embedding server; once the server answers
 *     again every event is stored.
 * Before, INTERNAL was neither retried nor isolated: the worker's loop failed, the process exited 1 and
 * a restarted worker met the same record again (CrashLoopBackOff, the partition stopped for good).
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectRedis, openStore } from "../../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { requireEnv } from "../../support/env.ts";
import {
  committedOffsets,
  createTopics,
  produceEvents,
  readAll,
  readTopic,
  uniqueTopic,
} from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  nearlineConfig,
  startInProcessNearline,
} from "../../support/nearline.ts";
import {
  startScriptedEmbeddingServer,
  type ScriptedEmbeddingServer,
} from "../../support/scripted-embedding-server.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "embedretry-v1";
let embedding: TestEmbeddingServer;
let front: ScriptedEmbeddingServer;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  front = await startScriptedEmbeddingServer({ upstream: embedding.address });
});

afterAll(async () => {
  await front?.close();
  await embedding?.server.close();
});

async function startWorker(label: string) {
  const topic = uniqueTopic(label);
  const deadLetterTopic = uniqueTopic(`${label}-dead`);
  await createTopics([topic, deadLetterTopic], 1);
  const config = nearlineConfig({
    topic,
    deadLetterTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: front.address,
  });
  const { app, closeConnection } = await startInProcessNearline(config);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  const stop = async () => {
    await app.stop();
    closeConnection();
    await redis.quit();
  };
  return { topic, deadLetterTopic, config, app, redis, stop };
}

const goodEvents = (label: string) =>
  ["Nurse", "Pilot", "Chef", "Welder"].map((title, index) =>
    jobEvent(`${label}${index}`, 1000 + index, { title, company: "Acme", skills: [] }),
  );

it("dead-letters only the event whose text the server fails alone, and stores the rest", async () => {
  const worker = await startWorker("nl-embedretry-poison");
  const { topic, deadLetterTopic, config, app, redis } = worker;
  try {
    front.fail = (texts) =>
      texts.some((text) => text.includes("Poisoned"))
        ? { code: status.INTERNAL, details: "inference failed", errorCode: "JUDE_SERVING_BACKEND_FAILED" }
        : undefined;
    const good = goodEvents("ok");
    const poison = jobEvent("poison", 2000, { title: "Poisoned", company: "Acme", skills: [] });
    await produceEvents(topic, [good[0]!, good[1]!, poison, good[2]!, good[3]!]);

    await waitFor(
      "all five events committed",
      async () => (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 5,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(app.worker.failure).toBeUndefined();
    expect(app.worker.totals).toMatchObject({ consumed: 5, embedded: 4, deadLettered: 1 });
    const [dead] = await readTopic(deadLetterTopic, 1);
    expect(dead!.key).toBe("poison");
    expect(dead!.headers["jude.error.code"]).toBe("EMBEDDING_FAILED");
    expect(dead!.headers["jude.error.reason"]).toContain(
      "INTERNAL JUDE_SERVING_BACKEND_FAILED: inference failed",
    );
    const store = await openStore(redis, { name: config.sinks.store.name });
    await expectStoreMatches(store, version, expectedFinalState(good, version));
    const metrics = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
    expect(metrics).toMatch(/^jude_pipeline_embedding_errors_total\{[^}]*status="INTERNAL"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^jude_pipeline_dead_lettered_total\{[^}]*code="EMBEDDING_FAILED"[^}]*\} 1$/m);
  } finally {
    front.fail = () => undefined;
    await worker.stop();
  }
}, 120_000);

it("keeps the batch uncommitted and dead-letters nothing while the server fails every call", async () => {
  const worker = await startWorker("nl-embedretry-down");
  const { topic, deadLetterTopic, config, app, redis } = worker;
  try {
    front.fail = () => ({ code: status.INTERNAL, details: "backend failed" });
    const good = goodEvents("down");
    await produceEvents(topic, good);
    const readyz = async () =>
      (await (await fetch(`http://127.0.0.1:${app.ops.port}/readyz`)).json()) as {
        waitingOn?: { dependency: string; error: string };
      };
    await waitFor(
      "the worker to report that the server fails every call",
      async () => (await readyz()).waitingOn?.error.includes("fails every call") === true,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect((await readyz()).waitingOn).toMatchObject({ dependency: "embedding" });
    expect(app.worker.failure).toBeUndefined();
    expect(app.worker.totals.batches).toBe(0);
    expect(await committedOffsets(config.source.kafka.consumerGroup, topic)).toBe(0);
    expect(await readAll(deadLetterTopic)).toEqual([]);

    front.fail = () => undefined;
    await waitFor(
      "all four events committed",
      async () => (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 4,
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    expect(app.worker.totals).toMatchObject({ consumed: 4, embedded: 4, deadLettered: 0 });
    expect(await readAll(deadLetterTopic)).toEqual([]);
    expect(await readyz()).not.toHaveProperty("waitingOn");
    const store = await openStore(redis, { name: config.sinks.store.name });
    await expectStoreMatches(store, version, expectedFinalState(good, version));
  } finally {
    front.fail = () => undefined;
    await worker.stop();
  }
}, 120_000);

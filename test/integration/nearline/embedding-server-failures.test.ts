/**
 * The embedding server failing a call itself (gRPC INTERNAL or UNKNOWN) never stops a worker, never
 * loses an event and never sends the whole stream to the dead-letter topic. A gRPC server in front of
 * the real `jude serve` answers INTERNAL for calls the test chooses:
 *   - for one text only (a record the model cannot take): after a few attempts and a probe the server
 *     answers, the batch is halved until that text stands alone; its event alone is dead-lettered
 *     (EMBEDDING_FAILED, with the status and message), the others are stored, the offsets committed;
 *   - for every call (a broken server): nothing is dead-lettered or stored, the batch stays
 *     uncommitted, /readyz says the worker waits on the embedding server; once the server answers
 *     again every event is stored; a drain that runs out of time meanwhile leaves the batch uncommitted,
 *     and the next worker of the group stores it.
 * A text that hangs the server (every call with it ends DEADLINE_EXCEEDED) is isolated the same way
 * once a probe answers in time; before, DEADLINE_EXCEEDED was retried without limit and such a record
 * stopped its partition for good.
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
import { expectedFinalState, expectStoreMatches, jobEvent, nearlineConfig } from "../../support/nearline.ts";
import { startNearline } from "../../../pipelines/nearline/app.ts";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
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

async function startWorker(label: string, options: { embeddingTimeoutMs?: number } = {}) {
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
  if (options.embeddingTimeoutMs !== undefined) config.embedding.timeoutMs = options.embeddingTimeoutMs;
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  const started = await startApp(config);
  return {
    topic,
    deadLetterTopic,
    config,
    app: started.app,
    redis,
    /** Stops the worker (a drain of at most 2 s) and starts another on the same group. */
    restart: async () => {
      await started.stop();
      Object.assign(started, await startApp(config));
      return started.app;
    },
    stop: async () => {
      await started.stop();
      await redis.quit();
    },
  };
}

/** `jude nearline` in this process, as startInProcessNearline starts it, with a 2 s drain. */
async function startApp(config: NearlineConfig) {
  const connection = connectEmbedding(config.embedding, { modelDigest: config.model.digest });
  const app = await startNearline(config, {
    logger: silentLogger(),
    embedCall: connection.call,
    isRetryableEmbedError: connection.isRetryable,
    drainMs: 2_000,
  });
  return {
    app,
    stop: async () => {
      await app.stop();
      connection.close();
    },
  };
}

/** True while the worker's loop runs; its failure (the waits report it as their last error) otherwise. */
function alive(app: { worker: { failure: unknown } }): boolean {
  if (app.worker.failure !== undefined) throw app.worker.failure;
  return true;
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
      async () => alive(app) && (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 5,
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

it("dead-letters only the event whose text hangs the server (DEADLINE_EXCEEDED on every try), and stores the rest", async () => {
  // A 2 s deadline per call, so the hanging text's tries end soon; the probe and the others answer.
  const worker = await startWorker("nl-hangtext-poison", { embeddingTimeoutMs: 2_000 });
  const { topic, deadLetterTopic, config, app, redis } = worker;
  try {
    front.hang = (texts) => texts.some((text) => text.includes("Hanging"));
    const good = goodEvents("hang");
    const poison = jobEvent("hanging", 2000, { title: "Hanging", company: "Acme", skills: [] });
    await produceEvents(topic, [good[0]!, good[1]!, poison, good[2]!, good[3]!]);

    await waitFor(
      "all five events committed",
      async () => alive(app) && (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 5,
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(app.worker.totals).toMatchObject({ consumed: 5, embedded: 4, deadLettered: 1 });
    const [dead] = await readTopic(deadLetterTopic, 1);
    expect(dead!.key).toBe("hanging");
    expect(dead!.headers["jude.error.code"]).toBe("EMBEDDING_FAILED");
    expect(dead!.headers["jude.error.reason"]).toContain("DEADLINE_EXCEEDED");
    const store = await openStore(redis, { name: config.sinks.store.name });
    await expectStoreMatches(store, version, expectedFinalState(good, version));
    const metrics = await (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
    expect(metrics).toMatch(
      /^jude_pipeline_embedding_errors_total\{[^}]*status="DEADLINE_EXCEEDED"[^}]*\} [1-9]/m,
    );
  } finally {
    front.hang = () => false;
    await worker.stop();
  }
}, 150_000);

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
      async () => alive(app) && (await readyz()).waitingOn?.error.includes("fails every call") === true,
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
      async () => alive(app) && (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 4,
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

it("a drain while the server fails every call leaves the batch uncommitted; the next worker stores it", async () => {
  const worker = await startWorker("nl-embedretry-drain");
  const { topic, deadLetterTopic, config, redis } = worker;
  try {
    front.fail = () => ({ code: status.UNKNOWN, details: "handler threw" });
    const good = goodEvents("drain");
    await produceEvents(topic, good);
    await waitFor(
      "the worker to report that the server fails every call",
      async () => alive(worker.app) && (await embeddingRetries(worker.app.ops.port)) >= 4,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    // The drain gives up on the batch after 2 s: nothing committed, nothing dead-lettered.
    const next = await worker.restart();
    expect(await committedOffsets(config.source.kafka.consumerGroup, topic)).toBe(0);
    expect(await readAll(deadLetterTopic)).toEqual([]);

    front.fail = () => undefined;
    await waitFor(
      "all four events committed by the next worker",
      async () => alive(next) && (await committedOffsets(config.source.kafka.consumerGroup, topic)) === 4,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(next.worker.totals).toMatchObject({ embedded: 4, deadLettered: 0 });
    expect(await readAll(deadLetterTopic)).toEqual([]);
    const store = await openStore(redis, { name: config.sinks.store.name });
    await expectStoreMatches(store, version, expectedFinalState(good, version));
  } finally {
    front.fail = () => undefined;
    await worker.stop();
  }
}, 120_000);

/** jude_pipeline_retries_total{dependency="embedding"} of the worker on `port`. */
async function embeddingRetries(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = /^jude_pipeline_retries_total\{[^}]*dependency="embedding"[^}]*\} (\d+)/m.exec(text);
  return match === null ? 0 : Number(match[1]);
}

/**
 * Helpers for nearline integration tests: a worker config pointing at the testbed, the expected final
 * store state of a changelog, and a check of the real store against it.
 */
import { randomUUID } from "node:crypto";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import type { Logger } from "pino";
import { startNearline, type NearlineApp, type NearlineDependencies } from "../../pipelines/nearline/app.ts";
import { nearlineConfigSchema, type NearlineConfig } from "../../pipelines/nearline/config.ts";
import { connectEmbedding } from "../../pipelines/shared/embed-client.ts";
import { silentLogger } from "../../plumbing/logger.ts";
import { connectRedis, openStore, StoreWriter, type Store } from "../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "./embedding-server.ts";
import { requireEnv } from "./env.ts";
import { createTopics, type TestEvent } from "./kafka.ts";
import { jobHash, jobTemplate, jobText } from "./nearline-oracle.ts";
import { workerMetric } from "./nearline-processes.ts";
import { startOwnedRedis, type OwnedRedis } from "../integration/store/redis-server.ts";
import { waitFor } from "../testbed/wait.ts";

export { jobTemplate };

export const jobExtract = { title: "$.title", company: "$.company", skills: "$.skills[*]" };

/** Which Redis the worker writes to. */
export type RedisMode = "standalone" | "cluster";

/** The env var the worker reads the store URL from (a Secret in a pod). */
export function storeUrlEnv(mode: RedisMode): string {
  const name = mode === "cluster" ? "JUDE_TEST_STORE_CLUSTER" : "JUDE_TEST_STORE_URL";
  process.env[name] =
    mode === "cluster" ? requireEnv("JUDE_REDIS_CLUSTER_NODES") : requireEnv("JUDE_REDIS_URL");
  return name;
}

/** A fresh env var holding `url` (a test's own Redis), as a pod gets it from a Secret. */
function ownStoreUrlEnv(url: string): string {
  const name = `JUDE_TEST_OWN_STORE_${randomUUID().slice(0, 8).toUpperCase()}`;
  process.env[name] = url;
  return name;
}

/**
 * `jude nearline` in this process for `config`, with its own connection to the embedding server as
 * the command opens it (every answer's model digest is checked). `close` ends that connection.
 * `options.drainMs`: how long a stop waits for the batch in hand (default: the worker's 20 s);
 * `options.atStep`: awaited at each step of a batch attempt (a test acts there, as another writer).
 */
export async function startInProcessNearline(
  config: NearlineConfig,
  logger: Logger = silentLogger(),
  options: Pick<NearlineDependencies, "drainMs" | "atStep"> = {},
): Promise<{ app: NearlineApp; closeConnection: () => void }> {
  const connection = connectEmbedding(config.embedding, { modelDigest: config.model.digest });
  const app = await startNearline(config, {
    logger,
    embedCall: connection.call,
    isRetryableEmbedError: connection.isRetryable,
    watchTokenRefusals: connection.watchTokenRefusals,
    ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
    ...(options.atStep !== undefined ? { atStep: options.atStep } : {}),
  });
  return { app, closeConnection: connection.close };
}

/** A worker config for a job changelog. */
export function nearlineConfig(options: {
  topic: string;
  outputTopic?: string;
  deadLetterTopic?: string;
  storeName?: string;
  mode?: RedisMode;
  /** A standalone Redis of the test's own (e.g. one it kills) instead of the testbed's. */
  storeUrl?: string;
  version: string;
  digest: string;
  embeddingAddress: string;
  maxEvents?: number;
}): NearlineConfig {
  return nearlineConfigSchema.parse({
    pipeline: { namespace: "test", name: `jobs-${randomUUID().slice(0, 6)}` },
    entity: "job",
    model: { version: options.version, digest: options.digest, dimensions: 384, template: jobTemplate },
    source: {
      kafka: {
        bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")],
        topic: options.topic,
        consumerGroup: `${options.topic}-group`,
      },
    },
    decode: { keyPath: "$.jobId", eventTimePath: "$.updatedAt", delete: { path: "$.op", values: ["d"] } },
    extract: jobExtract,
    embedding: { endpoint: options.embeddingAddress, maxBatchSize: 32, maxInflight: 2 },
    sinks: {
      store: {
        name: options.storeName ?? `nl-${randomUUID().slice(0, 8)}`,
        url: {
          env:
            options.storeUrl === undefined
              ? storeUrlEnv(options.mode ?? "standalone")
              : ownStoreUrlEnv(options.storeUrl),
        },
        cluster: options.mode === "cluster",
      },
      ...(options.outputTopic ? { kafka: { topic: options.outputTopic } } : {}),
      ...(options.deadLetterTopic ? { deadLetter: { topic: options.deadLetterTopic } } : {}),
    },
    batching: { maxEvents: options.maxEvents ?? 256, lingerMs: 10 },
    http: { port: 0 },
  });
}

/** A job event as the test changelog writes it. */
export function jobEvent(id: string, time: number, fields: Record<string, unknown>): TestEvent {
  return { key: id, value: { jobId: id, updatedAt: time, ...fields } };
}

/** Job events for `ids`, their times `firstTime`, `firstTime + 1`, … (one title pattern, company and skill). */
export function jobEvents(ids: readonly string[], firstTime: number): TestEvent[] {
  return ids.map((id, index) =>
    jobEvent(id, firstTime + index, { title: `Engineer ${id}`, company: "Acme", skills: ["go"] }),
  );
}

/** Which of `ids` of `entity` are stored live with a vector in `version`. */
export async function liveIds(
  store: Store,
  version: string,
  ids: readonly string[],
  entity = "job",
): Promise<string[]> {
  const metas = await new StoreWriter(store).readMeta(
    version,
    ids.map((id) => ({ entity, id })),
  );
  return ids.filter((_, index) => metas[index]?.live === true);
}

/** Waits until all of `ids` are stored live in `version` (a read failing while the store is down: none). */
export async function untilLive(
  what: string,
  store: Store,
  version: string,
  ids: readonly string[],
  timeoutMs: number,
  entity = "job",
): Promise<void> {
  await waitFor(
    what,
    async () => (await liveIds(store, version, ids, entity).catch(() => [])).length === ids.length,
    { timeoutMs, intervalMs: 200 },
  );
}

/**
 * Final state per key: the content hash of its newest upsert, or null when its newest event deletes it.
 * Computed by the independent model in nearline-oracle.ts, not by the pipelines' renderer.
 */
export function expectedFinalState(
  events: readonly TestEvent[],
  version: string,
): Map<string, string | null> {
  const newest = new Map<string, { time: number; order: number; hash: string | null }>();
  events.forEach((event, order) => {
    const value = event.value as Record<string, unknown> | null;
    // A tombstone carries the record timestamp (now), newer than the small synthetic event times tests use.
    const time = value === null ? Number.MAX_SAFE_INTEGER : Number(value.updatedAt);
    const hash = value === null || value.op === "d" ? null : jobHash(jobText(value), version);
    const current = newest.get(event.key);
    if (current === undefined || time > current.time || (time === current.time && order > current.order)) {
      newest.set(event.key, { time, order, hash });
    }
  });
  return new Map([...newest].map(([key, { hash }]) => [key, hash]));
}

/** Asserts that every key's stored record is live with the expected hash, or absent/tombstoned. */
export async function expectStoreMatches(
  store: Store,
  version: string,
  expected: Map<string, string | null>,
): Promise<void> {
  const ids = [...expected.keys()];
  const metas = await new StoreWriter(store).readMeta(
    version,
    ids.map((id) => ({ entity: "job", id })),
  );
  const actual = new Map(ids.map((id, index) => [id, metas[index]?.live ? metas[index]!.contentHash : null]));
  expect(actual).toEqual(expected);
}

/** A job pipeline's worker in this process with its own embedding server and the testbed's Kafka and Redis. */
export interface InProcessPipeline {
  app: NearlineApp;
  config: NearlineConfig;
  /** The worker's store, opened on a connection of the test's own. */
  store: Store;
  /** Stops the worker, its embedding connection and server, and the store connection. */
  stop(): Promise<void>;
}

/**
 * Creates the topics (one partition each) and starts the embedding server and the worker for them;
 * `configure` changes the job pipeline's config (decode rules, extract paths) before the start.
 */
export async function startInProcessPipeline(options: {
  version: string;
  topic: string;
  outputTopic?: string;
  deadLetterTopic?: string;
  configure?: (config: NearlineConfig) => NearlineConfig;
  logger?: Logger;
}): Promise<InProcessPipeline> {
  const { version, topic, outputTopic, deadLetterTopic } = options;
  const embedding = await startTestEmbeddingServer(version);
  await createTopics(
    [topic, ...(outputTopic ? [outputTopic] : []), ...(deadLetterTopic ? [deadLetterTopic] : [])],
    1,
  );
  const base = nearlineConfig({
    topic,
    outputTopic,
    deadLetterTopic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  const config = options.configure?.(base) ?? base;
  const { app, closeConnection } = await startInProcessNearline(config, options.logger);
  const redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  const store = await openStore(redis, { name: config.sinks.store.name });
  return {
    app,
    config,
    store,
    stop: async () => {
      await app.stop();
      closeConnection();
      await redis.quit();
      await embedding.server.close();
    },
  };
}

/** Where a job worker reads and writes, on the embedding server its test file shares. */
export interface JobWorkerOptions {
  topic: string;
  /** Partitions of the changelog topic (1 when absent). */
  partitions?: number;
  deadLetterTopic?: string;
  /** A standalone Redis of the test's own instead of the testbed's. */
  storeUrl?: string;
  /** How long a stop waits for the batch in hand (default: the worker's 20 s). */
  drainMs?: number;
}

/**
 * Creates the changelog topic (and the dead-letter topic, with as many partitions) and returns a job
 * pipeline's config on them for `embedding`'s version and model.
 */
export async function jobWorkerConfig(
  embedding: TestEmbeddingServer,
  options: JobWorkerOptions,
): Promise<NearlineConfig> {
  const { topic, deadLetterTopic, storeUrl } = options;
  await createTopics([topic, ...(deadLetterTopic ? [deadLetterTopic] : [])], options.partitions ?? 1);
  return nearlineConfig({
    topic,
    deadLetterTopic,
    storeUrl,
    version: embedding.version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
}

/** A job pipeline's worker in this process on an embedding server the test file shares. */
export interface InProcessWorker {
  app: NearlineApp;
  config: NearlineConfig;
  /** Sum of a metric's series on the worker's /metrics whose labels contain `labels`. */
  metric(name: string, labels?: string): Promise<number>;
  /** Stops the worker and its embedding connection (the server stays). */
  stop(): Promise<void>;
}

/** Creates the topics as {@link jobWorkerConfig} does and starts `jude nearline` in this process on them. */
export async function startJobWorker(
  embedding: TestEmbeddingServer,
  options: JobWorkerOptions,
): Promise<InProcessWorker> {
  const config = await jobWorkerConfig(embedding, options);
  const { app, closeConnection } = await startInProcessNearline(config, silentLogger(), {
    drainMs: options.drainMs,
  });
  return {
    app,
    config,
    metric: (name, labels = "") => workerMetric(app.ops.port, name, labels),
    stop: async () => {
      await app.stop();
      closeConnection();
    },
  };
}

/** A worker's store and embedding server a test file owns (see {@link useOwnedRedisAndEmbedding}). */
export interface OwnedWorkerDependencies {
  /** A Redis of the test file's own: the shared one must not be stopped. */
  readonly redis: OwnedRedis;
  readonly embedding: TestEmbeddingServer;
}

/**
 * For a test file that kills, pauses or restarts its worker's store: starts a private redis-server and
 * the test embedding server serving `version` before the file's tests, and stops both after them (the
 * Redis resumed first, should a test have left it paused); the returned object holds them once started.
 */
export function useOwnedRedisAndEmbedding(version: string): OwnedWorkerDependencies {
  const owned = {} as { redis: OwnedRedis; embedding: TestEmbeddingServer };
  beforeAll(async () => {
    owned.redis = await startOwnedRedis();
    owned.embedding = await startTestEmbeddingServer(version);
  });
  afterAll(async () => {
    owned.redis?.resume();
    await owned.redis?.destroy();
    await owned.embedding?.server.close();
  });
  return owned;
}

/** Copies an owned Redis's AOF (fsynced on every write) as it is now to `snapshot`. */
export function snapshotOwnedRedis(redis: OwnedRedis, snapshot: string): void {
  cpSync(join(redis.dir, "appendonlydir"), snapshot, { recursive: true });
}

/** Restarts an owned Redis from the copy of its AOF {@link snapshotOwnedRedis} took. */
export async function restartOwnedRedisFrom(redis: OwnedRedis, snapshot: string): Promise<void> {
  await redis.kill();
  rmSync(join(redis.dir, "appendonlydir"), { recursive: true, force: true });
  cpSync(snapshot, join(redis.dir, "appendonlydir"), { recursive: true });
  await redis.restart();
}

/**
 * Shared pieces of the bootstrap integration tests: a fresh store per test on the testbed's Redis,
 * shard configs, running shards in-process, and reading back what a shard wrote.
 */
import { randomUUID } from "node:crypto";
import { silentLogger } from "../../../plumbing/logger.ts";
import type { Registry } from "prom-client";
import { afterAll, beforeAll } from "vitest";
import type { ShardOutcome } from "../../../pipelines/bootstrap/shard.ts";
import { zeroCounts, type CheckpointState } from "../../../pipelines/bootstrap/checkpoint-codec.ts";
import { runBootstrap } from "../../../pipelines/bootstrap/app.ts";
import {
  bootstrapConfigSchema,
  resolveShardIndex,
  type BootstrapConfig,
} from "../../../pipelines/bootstrap/config.ts";
import type { EmbedCall } from "../../../pipelines/shared/embedding.ts";
import { createEntityTextRenderer } from "../../../pipelines/shared/entity-text.ts";
import {
  connectRedis,
  execBatch,
  parseClusterNodes,
  type BatchCommand,
  decodeMeta,
  decodePayload,
  openStore,
  recordField,
  bucketKeys,
  bucketOf,
  type RecordMeta,
  type RedisClient,
  type Store,
} from "../../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../store/helpers.ts";
import { MODEL_DIMENSIONS } from "./served-embed.ts";

export const TEMPLATE = "Job: {{title}} at {{company}}";
export const EXTRACT = { title: "$.title", company: "$.company" };
export const VERSION = "v2";
export const DIGEST = "sha256:minilm-test";

/** A uniquely named store on the testbed Redis (standalone by default); `drop` removes its keys. */
export async function createBootstrapStore(
  label: string,
  deployment: "standalone" | "cluster" = "standalone",
): Promise<{
  name: string;
  client: RedisClient;
  store: Store;
  /** The config's `store` section for this store. */
  section: Record<string, unknown>;
  drop: () => Promise<void>;
}> {
  const name = `bt-${label}-${randomUUID().slice(0, 8)}`;
  const cluster = deployment === "cluster";
  const target = cluster
    ? { clusterNodes: parseClusterNodes(requireEnv("JUDE_REDIS_CLUSTER_NODES")) }
    : { url: requireEnv("JUDE_REDIS_URL") };
  const client = connectRedis(target, { connectionName: `bootstrap-test-${label}` });
  const store = await openStore(client, { name, create: true, buckets: 64 });
  return {
    name,
    client,
    store,
    section: { name, url: { env: cluster ? "JUDE_REDIS_CLUSTER_NODES" : "JUDE_REDIS_URL" }, cluster },
    drop: async () => {
      await deleteKeysWithPrefix(client, `jude:${name}`);
      await client.quit();
    },
  };
}

/** A shard config document (plain JSON, as the operator would render it). */
export function shardDocument(options: {
  storeName: string;
  /** The `store` section; default: `storeName` on the standalone Redis. */
  store?: Record<string, unknown>;
  run: string;
  source: Record<string, unknown>;
  shards: { count: number; index: number };
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    run: { namespace: "test", name: options.run },
    entity: "job",
    model: { version: VERSION, digest: DIGEST, dimensions: MODEL_DIMENSIONS, template: TEMPLATE },
    decode: { keyPath: "$.id" },
    extract: EXTRACT,
    embedding: { endpoint: "unused:0", maxBatchSize: 32, maxInflight: 2 },
    store: options.store ?? { name: options.storeName, url: { env: "JUDE_REDIS_URL" } },
    source: options.source,
    shards: options.shards,
    batching: { maxEntities: 64, inflightBatches: 2 },
    textCache: { pollMs: 20 },
    ...options.extra,
  };
}

/** Validates a document into a shard config. */
export function shardConfig(document: Record<string, unknown>): BootstrapConfig {
  return resolveShardIndex(bootstrapConfigSchema.parse(document), {});
}

/** Runs one shard in-process with the given embedding call. */
export function runShardInProcess(
  config: BootstrapConfig,
  embed: EmbedCall,
  signal?: AbortSignal,
  registry?: Registry,
) {
  return runBootstrap(config, {
    logger: silentLogger(),
    embedCall: embed,
    isRetryableEmbedError: () => false,
    ...(signal ? { signal } : {}),
    ...(registry ? { registry } : {}),
  });
}

/** A job posting whose title repeats: entity `i` gets title number `i % distinct`. */
export function jobDocument(id: number, distinct: number): Record<string, unknown> {
  return { id: `job-${id}`, title: `Engineer grade ${id % distinct}`, company: "Acme" };
}

/** The text hash the pipelines compute for a document. */
export const renderJob = createEntityTextRenderer({
  extract: EXTRACT,
  template: TEMPLATE,
  modelVersion: VERSION,
});

/** What the store holds for each id in the test version: metadata and vector (null when absent). */
export async function readBack(
  store: Store,
  ids: readonly string[],
): Promise<Map<string, { meta: RecordMeta | null; vector: Float32Array | null }>> {
  // execBatch groups the reads per Cluster node, so this works on both deployments.
  const commands = ids.flatMap((id): BatchCommand[] => {
    const field = recordField("job", id);
    const keys = bucketKeys(store.layout, VERSION, bucketOf(store.layout, field));
    return [
      { key: keys.meta, queue: (pipeline) => pipeline.hget(keys.meta, field) },
      { key: keys.data, queue: (pipeline) => pipeline.hgetBuffer(keys.data, field) },
    ];
  });
  const replies = await execBatch(store.client, commands);
  const result = new Map<string, { meta: RecordMeta | null; vector: Float32Array | null }>();
  ids.forEach((id, index) => {
    const meta = replies[index * 2]!;
    const data = replies[index * 2 + 1]!;
    if (meta.error || data.error) throw meta.error ?? data.error;
    result.set(id, {
      meta: meta.value === null ? null : decodeMeta(meta.value as string),
      vector: data.value === null ? null : decodePayload(data.value as Buffer).vector,
    });
  });
  return result;
}

/** The file's test embedding server serving VERSION, started before its tests and closed after them. */
export function useEmbeddingServer(): () => TestEmbeddingServer {
  let server: TestEmbeddingServer | undefined;
  beforeAll(async () => {
    server = await startTestEmbeddingServer(VERSION, { logLevel: "silent" });
  });
  afterAll(async () => {
    await server?.server.close();
  });
  return () => {
    if (server === undefined) throw new Error("the test embedding server starts in beforeAll");
    return server;
  };
}

/** A checkpoint-state factory for `CheckpointStore.begin`: work `fingerprint`, one unit of 10 records, nothing done. */
export const freshCheckpoint = (fingerprint: string) => (): CheckpointState => ({
  fingerprint,
  phase: "running",
  attempt: 0,
  startedAtMs: 1,
  updatedAtMs: 1,
  units: { p0: { start: 0, end: 10, position: 0, done: false } },
  counts: zeroCounts(),
});

/** The outcome, or a clear failure when the shard is still running `promptMs` after the abort. */
export async function endsPromptly(promptMs: number, running: Promise<ShardOutcome>): Promise<ShardOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`shard still running ${promptMs} ms after the abort (SIGTERM)`)),
      promptMs,
    );
  });
  try {
    return await Promise.race([running, late]);
  } finally {
    clearTimeout(timer);
  }
}

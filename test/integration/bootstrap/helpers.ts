/**
 * Shared pieces of the bootstrap integration tests: a fresh store per test on the testbed's Redis,
 * shard configs, running shards in-process, and reading back what a shard wrote.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
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
import { requireEnv } from "../../support/env.ts";
import { deleteKeysWithPrefix } from "../store/helpers.ts";
import { MODEL_DIMENSIONS } from "./onnx-embed.ts";

export const TEMPLATE = "Job: {{title}} at {{company}}";
export const EXTRACT = { title: "$.title", company: "$.company" };
export const VERSION = "v2";
export const DIGEST = "sha256:minilm-test";

/** A uniquely named store on the standalone testbed Redis; `drop` removes its keys. */
export async function createBootstrapStore(label: string): Promise<{
  name: string;
  client: RedisClient;
  store: Store;
  drop: () => Promise<void>;
}> {
  const name = `bt-${label}-${randomUUID().slice(0, 8)}`;
  const client = connectRedis(
    { url: requireEnv("JUDE_REDIS_URL") },
    { connectionName: `bootstrap-test-${label}` },
  );
  const store = await openStore(client, { name, create: true, buckets: 64 });
  return {
    name,
    client,
    store,
    drop: async () => {
      await deleteKeysWithPrefix(client, `jude:${name}`);
      await client.quit();
    },
  };
}

/** A shard config document (plain JSON, as the operator would render it). */
export function shardDocument(options: {
  storeName: string;
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
    store: { name: options.storeName, url: { env: "JUDE_REDIS_URL" } },
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
export function runShardInProcess(config: BootstrapConfig, embed: EmbedCall, signal?: AbortSignal) {
  return runBootstrap(config, {
    logger: pino({ level: "silent" }),
    embedCall: embed,
    isRetryableEmbedError: () => false,
    ...(signal ? { signal } : {}),
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
  const pipeline = store.client.pipeline();
  for (const id of ids) {
    const field = recordField("job", id);
    const keys = bucketKeys(store.layout, VERSION, bucketOf(store.layout, field));
    pipeline.hget(keys.meta, field);
    pipeline.hgetBuffer(keys.data, field);
  }
  const replies = (await pipeline.exec()) ?? [];
  const result = new Map<string, { meta: RecordMeta | null; vector: Float32Array | null }>();
  ids.forEach((id, index) => {
    const [metaError, metaText] = replies[index * 2]!;
    const [dataError, payload] = replies[index * 2 + 1]!;
    if (metaError || dataError) throw metaError ?? dataError;
    result.set(id, {
      meta: metaText === null ? null : decodeMeta(metaText as string),
      vector: payload === null ? null : decodePayload(payload as Buffer).vector,
    });
  });
  return result;
}

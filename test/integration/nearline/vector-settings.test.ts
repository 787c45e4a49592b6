/**
 * A nearline worker registers its version with the vector settings the operator rendered into its
 * config (the model's pooling, normalize, maxSequenceLength, precision); a worker of the same version
 * told other ones does not start, saying which differ, and the recorded settings stay as they were.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../../../plumbing/logger.ts";
import { startNearline, type NearlineApp } from "../../../pipelines/nearline/app.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { connectRedis, getVersion, openStore, type RedisClient } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { nearlineConfig } from "../../support/nearline.ts";

const version = "minilm-v2";
const settings = { pooling: "mean", normalize: true, maxSequenceLength: 256, precision: "fp32" } as const;
let embedding: TestEmbeddingServer;
let redis: RedisClient;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterAll(async () => {
  await redis?.quit();
  await embedding?.server.close();
});

it("registers its vector settings, and a worker told other ones does not start", async () => {
  const topic = uniqueTopic("vecspec-nl");
  await createTopics([topic], 1);
  const base = nearlineConfig({
    topic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
    storeName: `vecspec-nl-${randomUUID().slice(0, 8)}`,
  });
  const withSettings = (vectorSettings: NonNullable<NearlineConfig["model"]["vectorSettings"]>) => ({
    ...base,
    model: { ...base.model, vectorSettings },
  });
  const connection = connectEmbedding(base.embedding, { modelDigest: base.model.digest });
  const start = (config: NearlineConfig) =>
    startNearline(config, {
      logger: silentLogger(),
      embedCall: connection.call,
      isRetryableEmbedError: connection.isRetryable,
    });
  let app: NearlineApp | undefined;
  try {
    app = await start(withSettings(settings));
    const store = await openStore(redis, { name: base.sinks.store.name });
    expect((await getVersion(store, version))?.vectorSettings).toEqual(settings);
    const refused = await start(withSettings({ ...settings, normalize: false })).then(
      async (other) => {
        await other.stop();
        return undefined;
      },
      (error: unknown) => error,
    );
    expect((refused as Error | undefined)?.message).toContain(
      `version ${version} cannot be written: it was registered with normalize true, not this writer's false`,
    );
    expect((await getVersion(store, version))?.vectorSettings).toEqual(settings);
  } finally {
    await app?.stop();
    connection.close();
  }
});

/**
 * A nearline worker whose version names another model than the embedding server serves (a Service
 * routed to the wrong Deployment) writes nothing, stops being ready and says why, as bootstrap does.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../../../plumbing/logger.ts";
import { startNearline, type NearlineApp } from "../../../pipelines/nearline/app.ts";
import { connectEmbedding } from "../../../pipelines/shared/embed-client.ts";
import { isPipelineError, PipelineErrorCodes } from "../../../pipelines/shared/errors.ts";
import { connectRedis, openStore, StoreWriter, type RedisClient } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { jobEvent, nearlineConfig } from "../../support/nearline.ts";
import { probe } from "../../testbed/http-probe.ts";

const version = "minilm-v2";
const otherDigest = `sha256:${"0".repeat(64)}`;
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

it("refuses vectors of another model: nothing written, not ready, the reason on /readyz and in the error", async () => {
  expect(embedding.digest).not.toBe(otherDigest);
  const topic = uniqueTopic("nl-digest");
  await createTopics([topic], 1);
  const config = nearlineConfig({
    topic,
    version,
    digest: otherDigest,
    embeddingAddress: embedding.address,
  });
  const connection = connectEmbedding(config.embedding, { modelDigest: config.model.digest });
  let app: NearlineApp | undefined;
  try {
    app = await startNearline(config, {
      logger: silentLogger(),
      embedCall: connection.call,
      isRetryableEmbedError: connection.isRetryable,
    });
    expect(app.worker.ready).toBe(true);
    await produceEvents(topic, [
      jobEvent("j1", 1000, { title: "Nurse", company: "Umbrella Health", skills: ["ICU"] }),
      jobEvent("j2", 1000, { title: "Pilot", company: "Wayne Logistics", skills: [] }),
    ]);

    const failure = await app.worker.done.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isPipelineError(failure, PipelineErrorCodes.MODEL_MISMATCH)).toBe(true);
    expect((failure as Error).message).toContain(embedding.digest);
    expect((failure as Error).message).toContain(otherDigest);
    expect(app.worker.ready).toBe(false);
    expect(app.worker.totals.batches).toBe(0);

    const readyz = await probe(`http://127.0.0.1:${app.ops.port}/readyz`);
    expect(readyz.status).toBe(503);
    expect(JSON.parse(readyz.body)).toMatchObject({ ready: false, error: { code: "MODEL_MISMATCH" } });

    const store = await openStore(redis, { name: config.sinks.store.name });
    const stored = await new StoreWriter(store).readMeta(version, [
      { entity: "job", id: "j1" },
      { entity: "job", id: "j2" },
    ]);
    expect(stored).toEqual([null, null]);
  } finally {
    await app?.stop();
    connection.close();
  }
});

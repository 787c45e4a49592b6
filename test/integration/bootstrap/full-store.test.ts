/**
 * A bootstrap shard on a Redis that just reached its maxmemory (noeviction). Its pending counts go in
 * a MULTI/EXEC transaction, which Redis discards as a whole ("EXECABORT") when a queued command is
 * refused with OOM: that must be retried like the OOM itself, not end the shard's attempt (and, after
 * the Job's retries, the BootstrapRun) over a condition that clears when memory is freed.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectRedis, isTransientRedisError, type RedisClient } from "../../../store/index.ts";
import { CheckpointStore } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { fillRedis } from "../../support/redis.ts";
import { startOwnedRedis, type OwnedRedis } from "../store/redis-server.ts";

let redis: OwnedRedis;
let client: RedisClient;

beforeAll(async () => {
  redis = await startOwnedRedis();
  client = connectRedis({ url: redis.url });
});

afterAll(async () => {
  client?.disconnect();
  await redis?.destroy();
});

it("reports a pending count refused on a full Redis as transient, and adds it once memory is back", async () => {
  const checkpoints = new CheckpointStore(client, "{jude:full:bootstrap:ns/run}:0", 3600);
  await fillRedis(client);
  const refused = await checkpoints.addPending("embedded", 3).then(
    () => null,
    (error: unknown) => error as Error,
  );
  expect(refused?.message).toMatch(/^EXECABORT/);
  // What the shard's retry asks. Before: false, and the attempt failed.
  expect(isTransientRedisError(refused)).toBe(true);
  await client.config("SET", "maxmemory", "0");
  await checkpoints.addPending("embedded", 3);
  expect(await client.hget(checkpoints.pendingKey, "embedded")).toBe("3");
});

/**
 * A primary with `min-replicas-to-write` (README, "Durability of acknowledged writes", recommends it)
 * refuses writes with "NOREPLICAS Not enough good replicas to write" while too few replicas are
 * connected: a replica restarting, a network blip. That clears by itself, so the writer waits it out
 * like an outage instead of failing the batch, which stopped a nearline worker and failed a
 * bootstrap shard (and, after its retries, the BootstrapRun and the promotion).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { StoreWriter, countVersion, registerVersion } from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, upsert } from "./helpers.ts";
import type { OwnedRedis } from "./redis-server.ts";
import { startOwnedRedis } from "./redis-server.ts";

let redis: OwnedRedis;
let testStore: TestStore;

beforeAll(async () => {
  redis = await startOwnedRedis();
  testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "noreplicas", 16);
  await registerVersion(testStore.store, "A", { modelDigest: "sha256:A", dimension: 4 });
});

afterAll(async () => {
  await testStore?.drop().catch(() => undefined);
  await redis?.destroy();
});

it("retries writes refused for want of replicas and stores them once the replica is back", async () => {
  const { store, client } = testStore;
  const refusals: string[] = [];
  let retried: () => void = () => undefined;
  const writerRetried = new Promise<void>((resolve) => (retried = resolve));
  const writer = new StoreWriter(store, {
    retry: { deadlineMs: 60_000, initialDelayMs: 20, maxDelayMs: 200 },
    onRetry: (_attempt, error) => {
      refusals.push(error.message);
      retried();
    },
  });
  // The only replica is gone: the primary refuses every write.
  await client.config("SET", "min-replicas-to-write", "1");
  const written = writer.write(Array.from({ length: 10 }, (_, id) => upsert("A", id, 1_000, id)));
  // Before: the batch failed at once (INTERNAL, "write: unexpected Redis error: NOREPLICAS ...").
  await Promise.race([writerRetried, written]);
  expect(refusals[0]).toMatch(/^NOREPLICAS /);
  // The replica is back (here: the requirement lifted).
  await client.config("SET", "min-replicas-to-write", "0");
  expect(await written).toEqual(Array.from({ length: 10 }, () => "created"));
  expect((await countVersion(store, "A")).live).toBe(10);
});

/**
 * Conditions in which a Redis primary refuses writes until something outside the store changes, and
 * which clear by themselves or by an operator's fix: too few replicas connected for
 * `min-replicas-to-write` (README, "Durability of acknowledged writes", recommends it; NOREPLICAS),
 * and a failed RDB snapshot, e.g. a full disk, with `stop-writes-on-bgsave-error` (MISCONF). The writer
 * waits them out like an outage instead of failing the batch, which stopped a nearline worker and
 * failed a bootstrap shard (and, after its retries, the BootstrapRun and the promotion).
 */
import { rmSync } from "node:fs";
import { afterEach, beforeEach, expect, it } from "vitest";
import { countVersion, registerVersion } from "../../../store/index.ts";
import { waitFor } from "../../testbed/wait.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, retryingWriter, upsert } from "./helpers.ts";
import type { OwnedRedis } from "./redis-server.ts";
import { startOwnedRedis } from "./redis-server.ts";

let redis: OwnedRedis;
let testStore: TestStore;

beforeEach(async () => {
  redis = await startOwnedRedis();
  testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "refused", 16);
  await registerVersion(testStore.store, "A", { modelDigest: "sha256:A", dimension: 4 });
});

afterEach(async () => {
  await testStore?.drop().catch(() => undefined);
  await redis?.destroy();
});

/** Writes ten records while Redis refuses writes, then lifts the refusal; returns the refusals seen. */
async function writeThrough(lift: () => Promise<unknown>): Promise<string[]> {
  const { store } = testStore;
  const { writer, retryErrors: refusals, retried } = retryingWriter(store);
  const written = writer.write(Array.from({ length: 10 }, (_, id) => upsert("A", id, 1_000, id)));
  await Promise.race([retried, written]);
  await lift();
  expect(await written).toEqual(Array.from({ length: 10 }, () => "created"));
  expect((await countVersion(store, "A")).live).toBe(10);
  return refusals;
}

it("retries writes refused for want of replicas and stores them once the replica is back", async () => {
  const { client } = testStore;
  // The only replica is gone: the primary refuses every write.
  await client.config("SET", "min-replicas-to-write", "1");
  // Before: the batch failed at once (INTERNAL, "write: unexpected Redis error: NOREPLICAS ...").
  const refusals = await writeThrough(() => client.config("SET", "min-replicas-to-write", "0"));
  expect(refusals[0]).toMatch(/^NOREPLICAS /);
});

it("retries writes refused after a failed snapshot and stores them once snapshots work", async () => {
  const { client } = testStore;
  // The snapshot cannot be written (its directory is gone, as on a full or failed disk).
  rmSync(redis.dir, { recursive: true, force: true });
  await client.config("SET", "save", "3600 1");
  await client.bgsave();
  await waitFor(
    "the snapshot to fail",
    async () => /rdb_last_bgsave_status:err/.test(await client.info("persistence")),
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  // Before: INTERNAL at once ("write: unexpected Redis error: MISCONF ..."). Fixed here by turning
  // snapshots off (on a real server: free the disk, and the next snapshot succeeds).
  const refusals = await writeThrough(() => client.config("SET", "save", ""));
  expect(refusals[0]).toMatch(/^MISCONF /);
});

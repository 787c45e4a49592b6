/**
 * A Redis at its memory limit (maxmemory with noeviction answers writes with "OOM command not
 * allowed") is waited out like an outage: the writer retries until memory is freed (the operator's
 * garbage collection of an old version, a larger limit) instead of failing the batch, which would
 * stop a nearline worker or a bootstrap shard over a condition that clears by itself.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient, Store } from "../../../store/index.ts";
import {
  StoreWriter,
  collectGarbage,
  countVersion,
  flip,
  listVersions,
  markVersionComplete,
  readPointer,
  registerVersion,
  rollback,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, retryingWriter, upsert } from "./helpers.ts";
import type { OwnedRedis } from "./redis-server.ts";
import { startOwnedRedis } from "./redis-server.ts";

describe("store writes against a Redis out of memory", () => {
  let redis: OwnedRedis;
  let testStore: TestStore | undefined;
  beforeAll(async () => {
    redis = await startOwnedRedis();
  });
  afterEach(async () => {
    await testStore?.client.config("SET", "maxmemory", "0").catch(() => undefined);
    await testStore?.drop().catch(() => undefined);
    testStore = undefined;
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  /** Stops Redis from growing: the next write that needs memory is refused with OOM. */
  async function fill(client: RedisClient): Promise<void> {
    const used = ((await client.info("memory")).match(/used_memory:(\d+)/) ?? [])[1];
    await client.config("SET", "maxmemory-policy", "noeviction");
    await client.config("SET", "maxmemory", String(Number(used) - 1024));
  }

  /** Versions v1, v2, v3 of 300 records each, published in turn (v3 current, v2 backup). */
  async function publishThreeVersions(store: Store): Promise<void> {
    const writer = new StoreWriter(store);
    let current: string | null = null;
    for (const version of ["v1", "v2", "v3"]) {
      await registerVersion(store, version, { modelDigest: `sha256:${version}`, dimension: 4 });
      await writer.write(Array.from({ length: 300 }, (_, id) => upsert(version, id, 1_000, id)));
      await markVersionComplete(store, version);
      await flip(store, { expectedCurrent: current, target: version });
      current = version;
    }
  }

  it("retries through OOM replies and writes the batch once memory is available", async () => {
    testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "oom", 16);
    const { store, client } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    const { writer, retryErrors: oomErrors, retried } = retryingWriter(store);
    await writer.write([upsert("A", 0, 1_000, 0, 0)]);

    // Full: every write the server would have to grow for is refused.
    const used = ((await client.info("memory")).match(/used_memory:(\d+)/) ?? [])[1];
    await client.config("SET", "maxmemory-policy", "noeviction");
    await client.config("SET", "maxmemory", String(Number(used) - 1024));
    const written = writer.write(
      Array.from({ length: 20 }, (_, id) => upsert("A", id + 1, 1_000, id + 1, 0)),
    );
    // Before: the batch failed at once (INTERNAL, "unexpected Redis error: OOM ...").
    await Promise.race([retried, written]);
    expect(oomErrors[0]).toMatch(/^OOM /);
    // Memory is freed: the same call finishes and everything is stored.
    await client.config("SET", "maxmemory", "0");
    const outcomes = await written;
    expect(outcomes).toHaveLength(20);
    expect(new Set(outcomes)).toEqual(new Set(["created"]));
    expect((await countVersion(store, "A")).live).toBe(21);
  });

  it("collects a version beyond retention while Redis is full, which lets the waiting writes through", async () => {
    testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "oom-gc", 16);
    const { store, client } = testStore;
    await publishThreeVersions(store);
    const { writer, retried } = retryingWriter(store);
    await fill(client);
    const written = writer.write(Array.from({ length: 20 }, (_, id) => upsert("v3", id + 300, 2_000, id)));
    await Promise.race([retried, written]);

    // What README promises frees the memory: collecting v1 (beyond retainVersions 1; v2 is backup).
    // Before: its first step failed ("gc mark deleting: ... OOM command not allowed"), so nothing was
    // ever freed and the writer waited until someone raised the limit.
    for (let step = 0; step < 10 && (await listVersions(store)).some((info) => info.version === "v1"); step++)
      await collectGarbage(store, { retainVersions: 1, maxBuckets: 8 });
    expect((await listVersions(store)).map((info) => info.version).sort()).toEqual(["v2", "v3"]);
    expect((await countVersion(store, "v1")).live).toBe(0);
    expect(await written).toHaveLength(20);
    expect((await countVersion(store, "v3")).live).toBe(320);
  });

  it("rolls back while Redis is full", async () => {
    testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "oom-rollback", 16);
    const { store, client } = testStore;
    await publishThreeVersions(store);
    await fill(client);
    // Before: "rollback: Redis unavailable: OOM command not allowed", until memory was freed.
    await rollback(store, { expectedCurrent: "v3", target: "v2" });
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v3" });
  });
});

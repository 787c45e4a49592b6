/**
 * A Redis at its memory limit (maxmemory with noeviction answers writes with "OOM command not
 * allowed") is waited out like an outage: the writer retries until memory is freed (the operator's
 * garbage collection of an old version, a larger limit) instead of failing the batch, which would
 * stop a nearline worker or a bootstrap shard over a condition that clears by itself.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreWriter, countVersion, registerVersion } from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, upsert } from "./helpers.ts";
import type { OwnedRedis } from "./redis-server.ts";
import { startOwnedRedis } from "./redis-server.ts";

describe("store writes against a Redis out of memory", () => {
  let redis: OwnedRedis;
  let testStore: TestStore;
  beforeAll(async () => {
    redis = await startOwnedRedis();
  });
  afterAll(async () => {
    await testStore?.client.config("SET", "maxmemory", "0").catch(() => undefined);
    await testStore?.drop().catch(() => undefined);
    await redis?.destroy();
  });

  it("retries through OOM replies and writes the batch once memory is available", async () => {
    testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "oom", 16);
    const { store, client } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    const oomErrors: string[] = [];
    let retried: () => void = () => undefined;
    const writerRetried = new Promise<void>((resolve) => (retried = resolve));
    const writer = new StoreWriter(store, {
      retry: { deadlineMs: 60_000, initialDelayMs: 20, maxDelayMs: 200 },
      onRetry: (_attempt, error) => {
        oomErrors.push(error.message);
        retried();
      },
    });
    await writer.write([upsert("A", 0, 1_000, 0, 0)]);

    // Full: every write the server would have to grow for is refused.
    const used = ((await client.info("memory")).match(/used_memory:(\d+)/) ?? [])[1];
    await client.config("SET", "maxmemory-policy", "noeviction");
    await client.config("SET", "maxmemory", String(Number(used) - 1024));
    const written = writer.write(
      Array.from({ length: 20 }, (_, id) => upsert("A", id + 1, 1_000, id + 1, 0)),
    );
    // Before: the batch failed at once (INTERNAL, "unexpected Redis error: OOM ...").
    await Promise.race([writerRetried, written]);
    expect(oomErrors[0]).toMatch(/^OOM /);
    // Memory is freed: the same call finishes and everything is stored.
    await client.config("SET", "maxmemory", "0");
    const outcomes = await written;
    expect(outcomes).toHaveLength(20);
    expect(new Set(outcomes)).toEqual(new Set(["created"]));
    expect((await countVersion(store, "A")).live).toBe(21);
  });
});

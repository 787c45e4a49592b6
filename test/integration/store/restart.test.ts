/**
 * The store rides out a Redis restart mid-stream: Redis is SIGKILLed while pipelined writes are in
 * flight, restarted from its append-only file, and the writer's retries (safe because every write is
 * conditional and idempotent) bring the store to exactly the state the changelog implies.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoreWrite } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  countVersion,
  flip,
  isStoreError,
  markVersionComplete,
  openStore,
  registerVersion,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, ids, remove, testVector, upsert } from "./helpers.ts";
import type { OwnedRedis } from "./redis-server.ts";
import { startOwnedRedis } from "./redis-server.ts";

describe("store across a Redis restart", () => {
  let redis: OwnedRedis;
  let testStore: TestStore;
  beforeAll(async () => {
    redis = await startOwnedRedis();
  });
  afterAll(async () => {
    await testStore?.drop().catch(() => undefined);
    await redis?.destroy();
  });

  it("reconnects, retries and ends in the exact state of the changelog", async () => {
    testStore = await createTestStore({ name: "standalone", target: { url: redis.url } }, "restart", 64);
    const { store, client } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    let retried: () => void = () => undefined;
    const writerRetried = new Promise<void>((resolve) => (retried = resolve));
    const writer = new StoreWriter(store, {
      retry: { deadlineMs: 60_000, initialDelayMs: 20, maxDelayMs: 500 },
      onRetry: () => retried(),
    });

    // 400 ids x 4 revisions; ids divisible by 5 end deleted. Batches interleave ids and revisions.
    const idCount = 400;
    const events: StoreWrite[] = [];
    for (let revision = 0; revision < 4; revision++) {
      for (let id = 0; id < idCount; id++) {
        const position = [1_000 + revision, revision * idCount + id] as const;
        const deleteNow = revision === 3 && id % 5 === 0;
        events.push(deleteNow ? remove("A", id, ...position) : upsert("A", id, ...position, revision));
      }
    }
    const batches: StoreWrite[][] = [];
    for (let start = 0; start < events.length; start += 40) batches.push(events.slice(start, start + 40));

    for (const batch of batches.slice(0, 10)) await writer.write(batch);
    // Fire a burst of batches, kill Redis under it, then restart once the client noticed.
    const burst = Promise.all(batches.slice(10, 30).map((batch) => writer.write(batch)));
    // Not events.once: it would reject on the connection 'error' event that precedes reconnecting.
    const disconnected = new Promise<void>((resolve) => client.once("reconnecting", () => resolve()));
    await redis.kill();
    await disconnected;
    const burstWhileDown = writer.write(batches[30] as StoreWrite[]);
    // Stay down until ioredis gave up on queued commands and the writer's own retry took over.
    await writerRetried;
    await redis.restart();
    await Promise.all([burst, burstWhileDown]);
    for (const batch of batches.slice(31)) await writer.write(batch);
    // And the whole changelog replayed once more changes nothing.
    const replay = await writer.write(events);
    expect(replay.every((outcome) => outcome === "stale")).toBe(true);

    await markVersionComplete(store, "A");
    const reader = await StoreReader.open(store, { subscribe: false, refreshIntervalMs: 0 });
    try {
      const hits = await reader.getMany("job", ids(idCount), { version: "A" });
      hits.forEach((hit, id) => {
        if (id % 5 === 0) expect(hit).toBeNull();
        else expect(hit && [...hit.vector]).toEqual(testVector("A", id, 3));
      });
    } finally {
      await reader.close();
    }
    const metas = await writer.readMeta(
      "A",
      ids(idCount).map((id) => ({ entity: "job", id })),
    );
    metas.forEach((meta, id) =>
      expect(meta).toMatchObject({ live: id % 5 !== 0, eventTimeMs: 1_003, offset: 3 * idCount + id }),
    );
    expect(await countVersion(store, "A")).toMatchObject({ live: 320, tombstones: 80 });
  });

  it("fails lookups at once while Redis is down, and serves again, following flips, once it is back", async () => {
    const { store, client } = testStore;
    await registerVersion(store, "B", { modelDigest: "sha256:B", dimension: 4 });
    await new StoreWriter(store).write([upsert("B", 1, 1_000, 1)]);
    await markVersionComplete(store, "B");
    await flip(store, { expectedCurrent: null, target: "A" });
    const { client: readerClient, store: readerStore } = await testStore.reopen();
    const reader = await StoreReader.open(readerStore, { refreshIntervalMs: 0 });
    try {
      expect((await reader.get("job", "1"))?.version).toBe("A");
      // Down long enough for ioredis's reconnect backoff to reach seconds between attempts.
      const longBackoff = new Promise<void>((resolve) =>
        readerClient.on("reconnecting", (delayMs: number) => delayMs >= 3_000 && resolve()),
      );
      await redis.kill();
      await longBackoff;
      const startedAt = Date.now();
      const failure = await reader.get("job", "1").catch((error: unknown) => error);
      const waitedMs = Date.now() - startedAt;
      expect(isStoreError(failure, "STORE_UNAVAILABLE")).toBe(true);
      // The caller owns the latency budget: no waiting in the offline queue through the backoff.
      expect(waitedMs).toBeLessThan(1_000);

      await redis.restart();
      // Not events.once: it would reject on the 'error' event of a reconnect attempt that failed.
      if (readerClient.status !== "ready")
        await new Promise<void>((resolve) => readerClient.once("ready", () => resolve()));
      expect((await reader.get("job", "1"))?.version).toBe("A");
      // Its subscription is back too: a flip made now reaches it without any periodic re-read.
      const moved = new Promise<void>((resolve) => reader.watcher.onChange(() => resolve()));
      const admin = await openStore(client, { prefix: store.layout.prefix });
      await flip(admin, { expectedCurrent: "A", target: "B" });
      await moved;
      expect((await reader.get("job", "1"))?.version).toBe("B");
    } finally {
      await reader.close();
    }
  }, 60_000);
});

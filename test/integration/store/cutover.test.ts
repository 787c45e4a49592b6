/**
 * Versioned cutover against real Redis: the flip's preconditions, notifications, rollback, and the
 * reader guarantee that matters most: readers hammering getMany through a flip and a rollback see no
 * miss, no error, and never a vector whose reported version differs from the version in its bytes.
 */

import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import type { PointerState, VectorHit } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  deleteVersionStep,
  flip,
  isCluster,
  isStoreError,
  markVersionComplete,
  readPointer,
  registerVersion,
  rollback,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, ids, testTargets, upsert, versionCode } from "./helpers.ts";

const keyCount = 200;

describe.each(testTargets())("store cutover on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  const readers: StoreReader[] = [];
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((reader) => reader.close()));
    await testStore?.drop();
    testStore = undefined;
  });

  /** A store with versions A and B both holding every key; A complete and current, B as asked. */
  async function setup(label: string, options: { completeB: boolean }) {
    testStore = await createTestStore(target, label);
    const { store } = testStore;
    const writer = new StoreWriter(store);
    for (const version of ["A", "B"]) {
      await registerVersion(store, version, { modelDigest: `sha256:${version}`, dimension: 4 });
      await writer.write(Array.from({ length: keyCount }, (_, id) => upsert(version, id, 1_000, id)));
    }
    await markVersionComplete(store, "A");
    if (options.completeB) await markVersionComplete(store, "B");
    await flip(store, { expectedCurrent: null, target: "A" });
    return store;
  }

  async function openReader(options: Parameters<typeof StoreReader.open>[1] = {}) {
    const { store } = await (testStore as TestStore).reopen();
    const reader = await StoreReader.open(store, options);
    readers.push(reader);
    return reader;
  }

  it("refuses to serve before the first publish", async () => {
    testStore = await createTestStore(target, "unpublished");
    const reader = await StoreReader.open(testStore.store, { subscribe: false, refreshIntervalMs: 0 });
    readers.push(reader);
    await expect(reader.get("job", "1")).rejects.toSatisfy((error) =>
      isStoreError(error, "NO_CURRENT_VERSION"),
    );
  });

  it("flips only from the expected current version to a complete target", async () => {
    const store = await setup("preconditions", { completeB: false });
    await expect(flip(store, { expectedCurrent: "A", target: "B" })).rejects.toSatisfy(
      (error) => isStoreError(error, "VERSION_NOT_COMPLETE") && error.details["state"] === "building",
    );
    await markVersionComplete(store, "B");
    await expect(flip(store, { expectedCurrent: "C", target: "B" })).rejects.toSatisfy(
      (error) => isStoreError(error, "PRECONDITION_FAILED") && error.details["actualCurrent"] === "A",
    );
    await expect(flip(store, { expectedCurrent: "A", target: "Z" })).rejects.toSatisfy((error) =>
      isStoreError(error, "VERSION_NOT_FOUND"),
    );
    expect(await readPointer(store)).toMatchObject({ current: "A", backup: null, epoch: 1 });

    const flipped = await flip(store, { expectedCurrent: "A", target: "B" });
    expect(flipped).toMatchObject({ changed: true, pointer: { current: "B", backup: "A", epoch: 2 } });
    // A retry after a lost reply is recognised and changes nothing.
    const retried = await flip(store, { expectedCurrent: "A", target: "B" });
    expect(retried).toMatchObject({ changed: false, pointer: { current: "B", backup: "A", epoch: 2 } });
    expect(await readPointer(store)).toMatchObject({ current: "B", backup: "A", epoch: 2 });
  });

  it("rolls back to a retained version with the same preconditions", async () => {
    const store = await setup("rollback", { completeB: true });
    await flip(store, { expectedCurrent: "A", target: "B" });
    await expect(rollback(store, { expectedCurrent: "A", target: "A" })).rejects.toSatisfy((error) =>
      isStoreError(error, "PRECONDITION_FAILED"),
    );
    const rolledBack = await rollback(store, { expectedCurrent: "B", target: "A" });
    expect(rolledBack.pointer).toMatchObject({ current: "A", backup: "B", epoch: 3 });
  });

  it("notifies readers of a flip", async () => {
    const store = await setup("notify", { completeB: true });
    const reader = await openReader({ refreshIntervalMs: 0 });
    expect(reader.pointer.current).toBe("A");
    const changed = nextPointer(reader);
    await flip(store, { expectedCurrent: "A", target: "B" });
    expect(await changed).toMatchObject({ current: "B", epoch: 2 });
    const hit = await reader.get("job", "5");
    expect(hit?.version).toBe("B");
  });

  // The store lost its pointer (a Redis restarted without persistence, a flush): a pointer written again
  // from epoch 0 would be ignored by every reader holding a higher epoch, until flips pass it.
  it("writes a lost pointer again above the epoch readers hold when given minEpoch", async () => {
    const store = await setup("min-epoch", { completeB: true });
    await flip(store, { expectedCurrent: "A", target: "B" });
    const reader = await openReader({ refreshIntervalMs: 0 });
    expect(reader.pointer).toMatchObject({ current: "B", epoch: 2 });
    await store.client.del(store.keys.pointer);
    const rewritten = nextPointer(reader);
    const minEpoch = 1_796_000_000_000;
    const restored = await rollback(store, { expectedCurrent: null, target: "B", minEpoch });
    expect(restored.pointer).toMatchObject({ current: "B", epoch: minEpoch });
    expect(await rewritten).toMatchObject({ current: "B", epoch: minEpoch });
    expect(await readPointer(store)).toMatchObject({ epoch: minEpoch });
    // Later flips count on from there; minEpoch below the stored epoch changes nothing.
    const next = await flip(store, { expectedCurrent: "B", target: "A", minEpoch: 5 });
    expect(next.pointer.epoch).toBe(minEpoch + 1);
  });

  // Lua's tostring keeps 14 digits ("1e+14"): an epoch from 10^14 on would be written as a pointer
  // every reader refuses as hand-edited, and a flip message a 64-bit integer parser refuses.
  it("writes epochs of 15 and 16 digits in decimal, in the pointer and in the flip message", async () => {
    const store = await setup("wide-epoch", { completeB: true });
    await store.client.hset(store.keys.pointer, "epoch", "99999999999999");
    const client = store.client;
    const subscriber = isCluster(client) ? client.duplicate() : client.duplicate();
    try {
      await subscriber.subscribe(store.keys.flipChannel);
      const message = once(subscriber, "message");
      await flip(store, { expectedCurrent: "A", target: "B" });
      expect((await message)[1]).toBe('{"epoch":100000000000000,"current":"B","backup":"A","kind":"flip"}');
      expect(await store.client.hget(store.keys.pointer, "epoch")).toBe("100000000000000");
      const widest = Number.MAX_SAFE_INTEGER;
      await rollback(store, { expectedCurrent: "B", target: "A", minEpoch: widest });
      expect(await store.client.hget(store.keys.pointer, "epoch")).toBe(String(widest));
      expect(await readPointer(store)).toMatchObject({ current: "A", epoch: widest });
    } finally {
      subscriber.disconnect();
    }
  });

  // Restored from an older snapshot: the pointer names A at epoch 1 again while readers hold B at
  // epoch 2 and ignore it. The operator writes A's pointer again above their epoch (expected = target).
  it("writes a rewound pointer again on its own version above minEpoch, keeping its backup", async () => {
    const store = await setup("rewound", { completeB: true });
    await flip(store, { expectedCurrent: "A", target: "B" });
    const reader = await openReader({ refreshIntervalMs: 0 });
    expect(reader.pointer).toMatchObject({ current: "B", epoch: 2 });
    await store.client.hset(store.keys.pointer, { current: "A", backup: "B", epoch: "1" });
    // Without a least epoch above the pointer's, a switch to the current version changes nothing.
    expect(await rollback(store, { expectedCurrent: "A", target: "A" })).toMatchObject({ changed: false });
    const rewritten = nextPointer(reader);
    const again = await rollback(store, { expectedCurrent: "A", target: "A", minEpoch: 3 });
    expect(again).toMatchObject({ changed: true, pointer: { current: "A", backup: "B", epoch: 3 } });
    expect(await rewritten).toMatchObject({ current: "A", epoch: 3 });
    expect(reader.pointer).toMatchObject({ current: "A", epoch: 3 });
    // A retry after a lost reply is recognised and changes nothing.
    const retried = await rollback(store, { expectedCurrent: "A", target: "A", minEpoch: 3 });
    expect(retried).toMatchObject({ changed: false, pointer: { current: "A", backup: "B", epoch: 3 } });
  });

  it("catches up without notifications: by periodic refresh, and by re-checking on a miss", async () => {
    const store = await setup("lost-notification", { completeB: true });
    const polling = await openReader({ subscribe: false, refreshIntervalMs: 50 });
    const deaf = await openReader({ subscribe: false, refreshIntervalMs: 0, recheckPointerOnMissAfterMs: 0 });
    const polled = nextPointer(polling);
    await flip(store, { expectedCurrent: "A", target: "B" });
    expect(await polled).toMatchObject({ current: "B" });
    // The deaf reader still reads A (complete and retained): correct, just not newest.
    expect((await deaf.get("job", "1"))?.version).toBe("A");
    // Flip again so A is neither current nor backup, then delete A entirely: the deaf reader's next
    // lookup misses, re-reads the pointer and repeats the lookup in the current version.
    await registerVersion(store, "C", { modelDigest: "sha256:C", dimension: 4 });
    await new StoreWriter(store).write(
      Array.from({ length: keyCount }, (_, id) => upsert("C", id, 1_000, id)),
    );
    await markVersionComplete(store, "C");
    await flip(store, { expectedCurrent: "B", target: "C" });
    while (!(await deleteVersionStep(store, "A", { maxBuckets: 4 })).done);
    const hits = await deaf.getMany("job", ids(keyCount));
    expect(hits.every((hit) => hit?.version === "C")).toBe(true);
  });

  it("serves readers hammering getMany through a flip and a rollback with no miss and no mixed version", async () => {
    const store = await setup("hammer", { completeB: true });
    const hammerReaders = await Promise.all([1, 2, 3, 4].map(() => openReader({ refreshIntervalMs: 1_000 })));
    const stats = {
      lookups: 0,
      misses: 0,
      errors: [] as unknown[],
      mismatches: 0,
      versions: new Set<string>(),
    };
    let running = true;
    const check = (hit: VectorHit | null) => {
      if (hit === null) return void stats.misses++;
      stats.versions.add(hit.version);
      if (hit.vector[0] !== versionCode(hit.version) || hit.modelDigest !== `sha256:${hit.version}`)
        stats.mismatches++;
    };
    const loops = hammerReaders.map(async (reader, index) => {
      while (running) {
        try {
          const hits = await reader.getMany(
            "job",
            ids(keyCount).filter((id) => Number(id) % 4 === index || index === 0),
          );
          const versions = new Set(hits.map((hit) => hit?.version));
          if (versions.size !== 1) stats.mismatches++; // one lookup, one version
          hits.forEach(check);
          stats.lookups++;
        } catch (error) {
          stats.errors.push(error);
        }
      }
    });
    const lookupsReach = async (count: number) => {
      while (stats.lookups < count) await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      await lookupsReach(20);
      const seenB = hammerReaders.map((reader) => epochReached(reader, 2));
      await flip(store, { expectedCurrent: "A", target: "B" });
      await Promise.all(seenB);
      await lookupsReach(stats.lookups + 40);
      const seenRollback = hammerReaders.map((reader) => epochReached(reader, 3));
      await rollback(store, { expectedCurrent: "B", target: "A" });
      await Promise.all(seenRollback);
      await lookupsReach(stats.lookups + 40);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(stats.errors).toEqual([]);
    expect(stats.misses).toBe(0);
    expect(stats.mismatches).toBe(0);
    expect([...stats.versions].sort()).toEqual(["A", "B"]);
    expect(
      hammerReaders.every((reader) => reader.pointer.current === "A" && reader.pointer.epoch === 3),
    ).toBe(true);
  });
});

function nextPointer(reader: StoreReader): Promise<PointerState> {
  return new Promise((resolve) => {
    const stop = reader.watcher.onChange((pointer) => {
      stop();
      resolve(pointer);
    });
  });
}

function epochReached(reader: StoreReader, epoch: number): Promise<void> {
  if (reader.pointer.epoch >= epoch) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = reader.watcher.onChange((pointer) => {
      if (pointer.epoch < epoch) return;
      stop();
      resolve();
    });
  });
}

/**
 * The store on a Redis Cluster that loses nodes: a primary crashes and its replica is promoted while
 * a writer is writing (nothing lost, nothing applied out of order, counters exact, readers served from
 * the new primary), then a slot range is left with no node at all (writers and readers fail with
 * STORE_UNAVAILABLE, the retryable code, within their budgets). Runs on a private cluster with one
 * replica per primary: the testbed's shared cluster must not fail over.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient, Store } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  bucketKeys,
  connectRedis,
  countVersion,
  flip,
  markVersionComplete,
  openStore,
  readPointer,
  registerVersion,
} from "../../../store/index.ts";
import { keySlot } from "../../../store/slot.ts";
import { upsert } from "./helpers.ts";
import type { ClusterNode, OwnedCluster } from "./owned-cluster.ts";
import { startOwnedCluster } from "./owned-cluster.ts";

const RECORDS = 120;
const allIds = Array.from({ length: RECORDS }, (_, id) => String(id));

describe("store on a Redis Cluster that loses nodes", () => {
  let cluster: OwnedCluster;
  let client: RedisClient;
  let store: Store;

  beforeAll(async () => {
    cluster = await startOwnedCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 });
    client = connectRedis({ clusterNodes: cluster.seeds }, { connectionName: "store-test-failover" });
    store = await openStore(client, { prefix: "jude-test:failover", create: true, buckets: 16 });
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    // Replicated before the crash, so the promoted replica has them.
    const durable = new StoreWriter(store, { durability: { replicas: 1, fsync: false, timeoutMs: 5_000 } });
    await durable.write(allIds.map((id) => upsert("A", Number(id), 1_000, 1, 1)));
    await markVersionComplete(store, "A");
    await flip(store, { expectedCurrent: null, target: "A" });
  });

  afterAll(async () => {
    await client?.quit().catch(() => undefined);
    await cluster?.destroy();
  });

  async function readRevisions(): Promise<number[]> {
    const reader = await StoreReader.open(store, { subscribe: false, refreshIntervalMs: 0 });
    try {
      const hits = await reader.getMany("job", allIds);
      return hits.map((hit) => (hit === null ? -1 : (hit.vector[2] ?? -1)));
    } finally {
      await reader.close();
    }
  }

  /** A primary serving data buckets but not the control slot, so flips keep working. */
  async function dataPrimary(exclude: ClusterNode | null = null): Promise<ClusterNode> {
    const control = await cluster.ownerOf(keySlot(store.keys.pointer));
    for (let bucket = 0; bucket < store.layout.buckets; bucket++) {
      const owner = await cluster.ownerOf(keySlot(bucketKeys(store.layout, "A", bucket).meta));
      if (owner !== control && owner !== exclude) return owner;
    }
    throw new Error("every bucket shares the control slot's primary");
  }

  async function slotServedBy(node: ClusterNode): Promise<number> {
    for (let bucket = 0; bucket < store.layout.buckets; bucket++) {
      const slot = keySlot(bucketKeys(store.layout, "A", bucket).meta);
      if ((await cluster.ownerOf(slot)) === node) return slot;
    }
    throw new Error("node serves no bucket");
  }

  let victimSlot = -1;

  it("writes through a primary crash and replica promotion without losing or reordering anything", async () => {
    const victim = await dataPrimary();
    victimSlot = await slotServedBy(victim);
    await victim.kill();
    const writer = new StoreWriter(store, {
      retry: { deadlineMs: 30_000, initialDelayMs: 50, maxDelayMs: 500 },
    });
    // Two events per record in one batch and a later batch: the newest must win everywhere.
    const outcomes = await writer.write([
      ...allIds.map((id) => upsert("A", Number(id), 3_000, 3, 3)),
      ...allIds.map((id) => upsert("A", Number(id), 2_000, 2, 2)),
    ]);
    expect(outcomes.slice(0, RECORDS)).toEqual(allIds.map(() => "updated"));
    expect(outcomes.slice(RECORDS)).toEqual(allIds.map(() => "stale"));
    expect(await writer.write(allIds.map((id) => upsert("A", Number(id), 2_500, 9, 2)))).toEqual(
      allIds.map(() => "stale"),
    );
    expect(await readRevisions()).toEqual(allIds.map(() => 3));
    expect(await countVersion(store, "A")).toMatchObject({ live: RECORDS, tombstones: 0 });
  });

  it("writes through a hung primary (no reply, connection open) once its replica is promoted", async () => {
    // A primary that still has a replica (not the one promoted in the previous test).
    const hung = await dataPrimary(await cluster.ownerOf(victimSlot));
    const slot = await slotServedBy(hung);
    // What a worker should configure: a command timeout, so a hung node cannot stall a batch forever.
    const timed = connectRedis({ clusterNodes: cluster.seeds }, { commandTimeoutMs: 1_000 });
    try {
      const timedStore = await openStore(timed, { prefix: store.layout.prefix });
      const writer = new StoreWriter(timedStore, {
        retry: { deadlineMs: 20_000, initialDelayMs: 50, maxDelayMs: 500 },
      });
      await writer.write(allIds.map((id) => upsert("A", Number(id), 3_000, 3, 3))); // warm: slots cached
      hung.pause();
      expect(await writer.write(allIds.map((id) => upsert("A", Number(id), 3_500, 3, 5)))).toEqual(
        allIds.map(() => "updated"),
      );
    } finally {
      timed.disconnect();
      await hung.kill();
    }
    expect(await cluster.ownerOf(slot)).not.toBe(hung);
    expect(await readRevisions()).toEqual(allIds.map(() => 5));
    expect(await countVersion(store, "A")).toMatchObject({ live: RECORDS, tombstones: 0 });
  });

  it("flips once the control slot's hung primary is replaced by its replica", async () => {
    // A long-lived client (the operator's) with a command timeout, its slot map cached before the hang.
    const timed = connectRedis({ clusterNodes: cluster.seeds }, { commandTimeoutMs: 1_000 });
    const control = await cluster.ownerOf(keySlot(store.keys.pointer));
    try {
      const timedStore = await openStore(timed, { prefix: store.layout.prefix });
      await registerVersion(timedStore, "B", { modelDigest: "sha256:B", dimension: 4 });
      await new StoreWriter(timedStore).write([upsert("B", 0, 1_000, 1)]);
      await markVersionComplete(timedStore, "B");
      control.pause();
      const started = Date.now();
      let current: string | null = null;
      while (current === null) {
        try {
          current = (await flip(timedStore, { expectedCurrent: "A", target: "B" })).pointer.current;
        } catch (error) {
          expect(error).toMatchObject({ code: "STORE_UNAVAILABLE" });
          if (Date.now() - started > 15_000) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      expect(current).toBe("B");
    } finally {
      timed.disconnect();
      await control.kill();
    }
    expect(await readPointer(store)).toMatchObject({ current: "B", backup: "A" });
  });

  it("fails with STORE_UNAVAILABLE, within the budget, while a slot range has no node", async () => {
    // The promoted replica has no replica of its own: killing it leaves its slots uncovered.
    const orphan = await cluster.ownerOf(victimSlot);
    await orphan.kill();
    const writer = new StoreWriter(store, {
      retry: { deadlineMs: 3_000, initialDelayMs: 50, maxDelayMs: 500 },
    });
    const started = Date.now();
    await expect(
      writer.write(allIds.map((id) => upsert("A", Number(id), 4_000, 4, 4))),
    ).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
    });
    expect(Date.now() - started).toBeLessThan(20_000);
    const reader = await StoreReader.open(store, { subscribe: false, refreshIntervalMs: 0 }).catch(
      (error: unknown) => error,
    );
    if (reader instanceof StoreReader) {
      await expect(reader.getMany("job", allIds)).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
      await reader.close();
    } else {
      expect(reader).toMatchObject({ code: "STORE_UNAVAILABLE" });
    }
    await expect(countVersion(store, "A")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
  });
});

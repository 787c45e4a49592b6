/**
 * Garbage collection of versions beyond retention, against real Redis: bounded steps, resumable
 * progress, refusal to touch current or backup, and no key of a collected version left behind.
 */

import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../../store/index.ts";
import {
  StoreWriter,
  claimTexts,
  collectGarbage,
  countVersion,
  deleteVersionStep,
  flip,
  getVersion,
  isCluster,
  isStoreError,
  listVersions,
  markVersionComplete,
  putTexts,
  registerVersion,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, testTargets, upsert } from "./helpers.ts";

const buckets = 32;

describe.each(testTargets())("store garbage collection on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  /** Versions v1..v4 published in turn (v4 current, v3 backup), each with 300 records and a text. */
  async function setup(label: string): Promise<Store> {
    testStore = await createTestStore(target, label, buckets);
    const { store } = testStore;
    const writer = new StoreWriter(store);
    let current: string | null = null;
    for (const version of ["v1", "v2", "v3", "v4"]) {
      await registerVersion(store, version, { modelDigest: `sha256:${version}`, dimension: 4 });
      await writer.write(Array.from({ length: 300 }, (_, id) => upsert(version, id, 1_000, id)));
      await claimTexts(store, version, ["text-hash-1", "text-hash-2"], { owner: "shard-0" });
      await putTexts(store, version, [{ textHash: "text-hash-1", vector: [1, 2, 3, 4], modelDigest: "d" }]);
      await markVersionComplete(store, version);
      await flip(store, { expectedCurrent: current, target: version });
      current = version;
    }
    return store;
  }

  it("refuses to collect the current or the backup version", async () => {
    const store = await setup("protected");
    await expect(deleteVersionStep(store, "v4")).rejects.toSatisfy(
      (error) => isStoreError(error, "PRECONDITION_FAILED") && error.message.includes("current"),
    );
    await expect(deleteVersionStep(store, "v3")).rejects.toSatisfy(
      (error) => isStoreError(error, "PRECONDITION_FAILED") && error.message.includes("backup"),
    );
    expect((await countVersion(store, "v3")).live).toBe(300);
  });

  it("deletes a version in bounded steps, resumably, leaving no key behind", async () => {
    const store = await setup("steps");
    const first = await deleteVersionStep(store, "v1", { maxBuckets: 10 });
    expect(first).toMatchObject({ done: false, nextBucket: 10, bucketsRemoved: 10 });
    expect(first.keysDeleted).toBeGreaterThan(0);
    expect(await getVersion(store, "v1")).toMatchObject({ state: "deleting", gcNextBucket: 10 });
    // Once deleting, the version can no longer be made current.
    await expect(flip(store, { expectedCurrent: "v4", target: "v1" })).rejects.toSatisfy((error) =>
      isStoreError(error, "VERSION_NOT_COMPLETE"),
    );
    const steps = [first];
    while (!(steps.at(-1)?.done ?? false))
      steps.push(await deleteVersionStep(store, "v1", { maxBuckets: 10 }));
    expect(steps.map((step) => step.bucketsRemoved)).toEqual([10, 10, 10, 2]);
    expect(await getVersion(store, "v1")).toBeNull();
    expect(await countVersion(store, "v1")).toMatchObject({ live: 0, tombstones: 0, texts: 0 });
    expect(await keysOfVersion(store, "v1")).toEqual([]);
    expect((await countVersion(store, "v2")).live).toBe(300);
  });

  it("collects exactly the versions beyond retention, within the per-call bucket budget", async () => {
    const store = await setup("retention");
    // retain 2 = backup v3 plus v2; only v1 goes.
    const calls: number[] = [];
    for (;;) {
      const results = await collectGarbage(store, { retainVersions: 2, maxBuckets: 12 });
      if (results.length === 0) break;
      const removed = results.reduce((total, result) => total + result.bucketsRemoved, 0);
      expect(removed).toBeLessThanOrEqual(12);
      calls.push(removed);
    }
    expect(calls).toEqual([12, 12, 8]);
    expect((await listVersions(store)).map((info) => info.version)).toEqual(["v2", "v3", "v4"]);
    // retain 1 = the backup only: v2 goes too.
    while ((await collectGarbage(store, { retainVersions: 1, maxBuckets: 64 })).length > 0);
    expect((await listVersions(store)).map((info) => info.version)).toEqual(["v3", "v4"]);
    expect(await keysOfVersion(store, "v2")).toEqual([]);
    expect((await countVersion(store, "v3")).live).toBe(300);
  });
});

/** Every key of a version on every master (SCAN: for verification only). */
async function keysOfVersion(store: Store, version: string): Promise<string[]> {
  const nodes = isCluster(store.client) ? store.client.nodes("master") : [store.client];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(
        cursor,
        "MATCH",
        `{${store.layout.prefix}:*}:v:${version}:*`,
        "COUNT",
        1000,
      );
      cursor = next;
      found.push(...keys);
    } while (cursor !== "0");
  }
  return found;
}

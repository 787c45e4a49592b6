/**
 * The bootstrap text-hash cache against real Redis: shards sharing one version embed each distinct
 * text once; leases expire so a dead shard's texts are taken over; failures release claims.
 */

import { afterEach, describe, expect, it } from "vitest";
import {
  claimTexts,
  countVersion,
  getTexts,
  putTexts,
  registerVersion,
  releaseTextClaims,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, testTargets } from "./helpers.ts";

const hash = (n: number) => `sha256-text-${n.toString().padStart(4, "0")}`;

describe.each(testTargets())("bootstrap text cache on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  async function setup(label: string) {
    testStore = await createTestStore(target, label);
    await registerVersion(testStore.store, "B", { modelDigest: "sha256:B", dimension: 3 });
    return testStore.store;
  }

  it("gives each text to one claimant, then serves its vector to everyone", async () => {
    const store = await setup("claims");
    const first = await claimTexts(store, "B", [hash(1), hash(2), hash(1)], { owner: "shard-0" });
    expect(first.claimed.sort()).toEqual([hash(1), hash(2)]);
    const second = await claimTexts(store, "B", [hash(1), hash(3)], { owner: "shard-1" });
    expect(second).toMatchObject({ claimed: [hash(3)], pending: [hash(1)] });
    // Re-claiming one's own texts renews the lease rather than reporting pending.
    expect((await claimTexts(store, "B", [hash(1)], { owner: "shard-0" })).claimed).toEqual([hash(1)]);

    expect(
      await putTexts(store, "B", [{ textHash: hash(1), vector: [1, 2, 3], modelDigest: "sha256:B" }]),
    ).toBe(1);
    expect(
      await putTexts(store, "B", [{ textHash: hash(1), vector: [9, 9, 9], modelDigest: "sha256:B" }]),
    ).toBe(0);
    const third = await claimTexts(store, "B", [hash(1)], { owner: "shard-1" });
    expect([...(third.ready.get(hash(1))?.vector ?? [])]).toEqual([1, 2, 3]);
    expect([...(await getTexts(store, "B", [hash(1), hash(2)])).keys()]).toEqual([hash(1)]);
    expect((await countVersion(store, "B")).texts).toBe(1);
  });

  it("lets another shard take over an expired lease or a released claim", async () => {
    const store = await setup("leases");
    await claimTexts(store, "B", [hash(1), hash(2)], { owner: "dead-shard", leaseMs: 1 });
    // The lease is 1 ms on the server clock: poll until it has expired (no fixed sleep).
    let takeover = await claimTexts(store, "B", [hash(1)], { owner: "shard-1" });
    while (takeover.claimed.length === 0)
      takeover = await claimTexts(store, "B", [hash(1)], { owner: "shard-1" });
    expect(takeover.claimed).toEqual([hash(1)]);

    await claimTexts(store, "B", [hash(3)], { owner: "shard-2", leaseMs: 600_000 });
    expect(await releaseTextClaims(store, "B", [hash(3)], "someone-else")).toBe(0);
    expect((await claimTexts(store, "B", [hash(3)], { owner: "shard-1" })).pending).toEqual([hash(3)]);
    expect(await releaseTextClaims(store, "B", [hash(3)], "shard-2")).toBe(1);
    expect((await claimTexts(store, "B", [hash(3)], { owner: "shard-1" })).claimed).toEqual([hash(3)]);
  });

  it("embeds every distinct text exactly once across concurrent shards with overlapping inputs", async () => {
    const store = await setup("dedup");
    const distinct = 300;
    const embedded = new Map<string, number>();
    // Four shards each see 200 texts drawn from the same 300, so most texts are met by several shards.
    const inputs = [0, 1, 2, 3].map((shard) => [
      ...new Set(
        Array.from({ length: 200 }, (_, index) => hash((index * (shard + 1) * 7 + shard) % distinct)),
      ),
    ]);
    const metBy = new Map<string, number>();
    for (const input of inputs) for (const text of input) metBy.set(text, (metBy.get(text) ?? 0) + 1);
    expect([...metBy.values()].filter((count) => count > 1).length).toBeGreaterThan(100);
    const shards = inputs.map(async (input, shard) => {
      let todo = [...input];
      const results = new Map<string, number[]>();
      while (todo.length > 0) {
        const batch = todo.slice(0, 50);
        const claims = await claimTexts(store, "B", batch, { owner: `shard-${shard}`, leaseMs: 60_000 });
        for (const [textHash, payload] of claims.ready) results.set(textHash, [...payload.vector]);
        const vectors = claims.claimed.map((textHash) => {
          embedded.set(textHash, (embedded.get(textHash) ?? 0) + 1);
          return { textHash, vector: [Number(textHash.slice(-4)), shard, 0], modelDigest: "sha256:B" };
        });
        await putTexts(store, "B", vectors);
        for (const vector of vectors) results.set(vector.textHash, vector.vector);
        // Pending texts go back to the end of the queue and are asked for again.
        todo = [...todo.slice(50), ...claims.pending];
        if (claims.ready.size + claims.claimed.length === 0)
          await new Promise((resolve) => setImmediate(resolve));
      }
      return results;
    });
    const perShard = await Promise.all(shards);
    expect([...embedded.values()].every((count) => count === 1)).toBe(true);
    expect(embedded.size).toBe(metBy.size);
    // Every shard got a vector for each of its texts, and they agree with each other.
    const canonical = await getTexts(store, "B", [...embedded.keys()]);
    for (const results of perShard) {
      for (const [textHash, vector] of results)
        expect(vector).toEqual([...(canonical.get(textHash)?.vector ?? [])]);
    }
    expect((await countVersion(store, "B")).texts).toBe(embedded.size);
  });
});

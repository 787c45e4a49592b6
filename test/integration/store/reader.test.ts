/**
 * The reader client as a ranking service uses it, against the testbed's standalone Redis: a reader
 * opened before any version exists, flip notifications lost while its subscription reconnects, a
 * large batch lookup, and the errors a lookup gives for an id it cannot look up and for a stored
 * vector that does not decode. These are client-side behaviours, so one Redis deployment suffices.
 */

import { afterEach, describe, expect, it } from "vitest";
import type { PointerState, Store } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  bucketKeys,
  bucketOf,
  deleteVersionStep,
  flip,
  isStoreError,
  markVersionComplete,
  openStore,
  registerVersion,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, deleteKeysWithPrefix, ids, testTargets, upsert, versionCode } from "./helpers.ts";

const standalone = testTargets().find((target) => target.name === "standalone");

describe("store reader on standalone Redis", () => {
  let testStore: TestStore | undefined;
  const readers: StoreReader[] = [];
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((reader) => reader.close()));
    await testStore?.drop();
    testStore = undefined;
  });

  async function newStore(label: string, buckets = 16): Promise<TestStore> {
    testStore = await createTestStore(standalone as NonNullable<typeof standalone>, label, buckets);
    return testStore;
  }

  /** Registers `version`, writes jobs 0..count-1 into it and marks it complete. */
  async function fill(store: Store, version: string, count: number): Promise<void> {
    await registerVersion(store, version, { modelDigest: `sha256:${version}`, dimension: 4 });
    await new StoreWriter(store).write(
      Array.from({ length: count }, (_, id) => upsert(version, id, 1_000, id)),
    );
    await markVersionComplete(store, version);
  }

  /** A reader on its own client, as a ranking service in another process. */
  async function openReader(options: Parameters<typeof StoreReader.open>[1] = {}): Promise<StoreReader> {
    const { store } = await (testStore as TestStore).reopen();
    const reader = await StoreReader.open(store, options);
    readers.push(reader);
    return reader;
  }

  it("serves the first version once it is flipped, when opened before any version existed", async () => {
    const { store, client } = await newStore("before-first");
    // Before the operator created the store, a reader cannot even open it (README: "no embeddings yet").
    await expect(openStore(client, { prefix: `${store.layout.prefix}-not-created` })).rejects.toSatisfy(
      (error) => isStoreError(error, "STORE_NOT_FOUND"),
    );
    // Notifications only: no periodic refresh, so the flip message is what the reader must act on.
    const reader = await openReader({ refreshIntervalMs: 0 });
    await expect(reader.get("job", "1")).rejects.toSatisfy((error) =>
      isStoreError(error, "NO_CURRENT_VERSION"),
    );
    await fill(store, "A", 20);
    const adopted = epochReached(reader, 1);
    await flip(store, { expectedCurrent: null, target: "A" });
    await adopted;
    const hit = await reader.get("job", "7");
    expect(hit).toMatchObject({ version: "A", modelDigest: "sha256:A", dtype: "f32" });
    expect(Array.from(hit?.vector ?? [])).toEqual([versionCode("A"), 7, 0, 1]);
  });

  it("catches up on a flip announced while its subscription was reconnecting", async () => {
    const { store, client } = await newStore("lost-notification");
    await fill(store, "A", 20);
    await fill(store, "B", 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    // No periodic refresh, and both versions stay complete so no lookup misses: the reconnect of the
    // subscription is the only event that can tell this reader about the flip.
    const reader = await openReader({ refreshIntervalMs: 0 });
    expect(reader.pointer).toMatchObject({ current: "A", epoch: 1 });
    const subscriberId = await subscriberClientId(client, `{${store.layout.prefix}}:flips`);
    const adopted = epochReached(reader, 2);
    // Both commands go out on one connection, so Redis runs the flip (and its PUBLISH) after the kill
    // and before the subscriber can have reconnected: the notification is lost.
    const killed = client.call("CLIENT", "KILL", "ID", subscriberId);
    const flipped = flip(store, { expectedCurrent: "A", target: "B" });
    expect(await killed).toBe(1);
    expect((await flipped).changed).toBe(true);
    await adopted;
    expect((await reader.get("job", "3"))?.version).toBe("B");
  });

  it("looks up 10,000 ids in one call: every hit in input order, from one version", async () => {
    const { store } = await newStore("batch", 1024);
    const count = 10_000;
    const writer = new StoreWriter(store);
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    for (let start = 0; start < count; start += 2_500)
      await writer.write(Array.from({ length: 2_500 }, (_, n) => upsert("A", start + n, 1_000, start + n)));
    await markVersionComplete(store, "A");
    await flip(store, { expectedCurrent: null, target: "A" });
    const reader = await openReader({ subscribe: false, refreshIntervalMs: 0 });
    const wanted = [...ids(count)].reverse();
    const hits = await reader.getMany("job", [...wanted, "missing"]);
    expect(hits).toHaveLength(count + 1);
    expect(hits.at(-1)).toBeNull();
    expect(
      hits
        .slice(0, count)
        .every((hit, index) => hit?.version === "A" && hit.vector[1] === Number(wanted[index])),
    ).toBe(true);
  });

  it("refuses an id that is not well-formed Unicode instead of returning another record's vector", async () => {
    const { store } = await newStore("lone-surrogate");
    await fill(store, "A", 0);
    // U+FFFD is what a lone surrogate turns into when the id is encoded as UTF-8 for Redis.
    await new StoreWriter(store).write([{ ...upsert("A", 5, 1_000, 5), id: "j\ufffd" }]);
    await flip(store, { expectedCurrent: null, target: "A" });
    const reader = await openReader({ subscribe: false, refreshIntervalMs: 0 });
    expect((await reader.get("job", "j\ufffd"))?.vector[1]).toBe(5);
    await expect(reader.getMany("job", ["1", "j\ud800"])).rejects.toSatisfy(
      (error) => isStoreError(error, "INVALID_ARGUMENT") && /ids\[1\]/.test(error.message),
    );
  });

  it("names the record, version and key of a stored vector that does not decode", async () => {
    const { store, client } = await newStore("corrupt");
    await fill(store, "A", 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    // A foreign writer that got the vector length wrong: 384 dimensions announced, 383 present.
    const field = "job:12";
    const key = bucketKeys(store.layout, "A", bucketOf(store.layout, field)).data;
    const header = Buffer.from("J1 f32 384 sha256:A\n", "latin1");
    await client.hset(key, field, Buffer.concat([header, Buffer.alloc(383 * 4)]));
    const reader = await openReader({ subscribe: false, refreshIntervalMs: 0 });
    const failure = await reader.getMany("job", ["3", "12"]).catch((error: unknown) => error);
    expect(isStoreError(failure, "CORRUPT_RECORD")).toBe(true);
    const message = (failure as Error).message;
    expect(message).toContain(field);
    expect(message).toContain("version A");
    expect(message).toContain(key);
    expect(message).toContain("1532 bytes, expected 384 x 4");
  });

  it("says the store lost its current version instead of answering every lookup 'not found'", async () => {
    const { store, client } = await newStore("lost-version");
    await fill(store, "A", 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    const reader = await openReader({ refreshIntervalMs: 0, recheckPointerOnMissAfterMs: 0 });
    expect((await reader.get("job", "3"))?.version).toBe("A");
    // Redis restarted without persistence (or FLUSHALL): pointer, registry and vectors are gone.
    await deleteKeysWithPrefix(client, store.layout.prefix);
    await expect(reader.getMany("job", ["3", "4"])).rejects.toSatisfy(
      (error) =>
        isStoreError(error, "NO_CURRENT_VERSION") &&
        /version A, which its pointer named at epoch 1, is no longer registered/.test(error.message),
    );
    // The rebuild re-registers A and refills it: until the pointer names it again it is not current,
    // and a lookup must not pass off the records not written yet as missing.
    const recreated = await openStore(client, { prefix: store.layout.prefix, create: true, buckets: 16 });
    await registerVersion(recreated, "A", { modelDigest: "sha256:A", dimension: 4 });
    await new StoreWriter(recreated).write([upsert("A", 3, 1_000, 3)]);
    expect((await reader.get("job", "3"))?.version).toBe("A");
    await expect(reader.get("job", "4")).rejects.toSatisfy((error) =>
      isStoreError(error, "NO_CURRENT_VERSION"),
    );
    await new StoreWriter(recreated).write([upsert("A", 4, 1_000, 4)]);
    await markVersionComplete(recreated, "A");
    const adopted = epochReached(reader, 2);
    await flip(recreated, { expectedCurrent: null, target: "A", minEpoch: 2 });
    await adopted;
    expect((await reader.getMany("job", ["4", "5"])).map((hit) => hit?.version ?? null)).toEqual(["A", null]);
  });

  it("follows the pointer at once when the version it read was collected since", async () => {
    const { store } = await newStore("collected");
    for (const version of ["A", "B", "C"]) await fill(store, version, 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    // Deaf, and its pointer confirmed moments ago: only the collected version can tell it to look again.
    const reader = await openReader({
      subscribe: false,
      refreshIntervalMs: 0,
      recheckPointerOnMissAfterMs: 60_000,
    });
    await flip(store, { expectedCurrent: "A", target: "B" });
    await flip(store, { expectedCurrent: "B", target: "C" });
    while (!(await deleteVersionStep(store, "A", { maxBuckets: 4 })).done);
    expect((await reader.getMany("job", ["1", "2"])).map((hit) => hit?.version ?? null)).toEqual(["C", "C"]);
  });

  it("says a pointer names a version the store does not have", async () => {
    const { store, client } = await newStore("pointer-to-nothing");
    await fill(store, "A", 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    const reader = await openReader({ recheckPointerOnMissAfterMs: 0 });
    const adopted = epochReached(reader, 7);
    // Someone edited the pointer by hand and published it.
    await client.hset(store.keys.pointer, "current", "typo", "epoch", "7");
    await client.publish(store.keys.flipChannel, JSON.stringify({ epoch: 7, current: "typo", backup: "" }));
    await adopted;
    await expect(reader.get("job", "3")).rejects.toSatisfy(
      (error) => isStoreError(error, "NO_CURRENT_VERSION") && /version typo/.test(error.message),
    );
  });

  it("keeps its pointer and names the key when the pointer is corrupted by hand", async () => {
    const { store, client } = await newStore("corrupt-pointer");
    await fill(store, "A", 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    const reader = await openReader({
      subscribe: false,
      refreshIntervalMs: 0,
      recheckPointerOnMissAfterMs: 0,
    });
    await client.hset(store.keys.pointer, "current", "bad name!", "epoch", "9");
    expect((await reader.get("job", "1"))?.version).toBe("A");
    // A miss re-reads the pointer: the error is about the pointer, not the caller's arguments.
    await expect(reader.get("job", "99")).rejects.toSatisfy(
      (error) =>
        isStoreError(error, "CORRUPT_RECORD") &&
        error.message.includes(`${store.keys.pointer} current "bad name!"`),
    );
    expect(reader.pointer).toMatchObject({ current: "A", epoch: 1 });
    expect((await reader.get("job", "1"))?.version).toBe("A");
    await client.del(store.keys.pointer);
    await client.set(store.keys.pointer, "A");
    await expect(reader.get("job", "99")).rejects.toSatisfy(
      (error) =>
        isStoreError(error, "CORRUPT_RECORD") &&
        error.message.includes(`${store.keys.pointer} is not a hash`),
    );
  });

  it("refuses a lookup in a version that is not registered instead of answering 'not found'", async () => {
    const { store } = await newStore("explicit-unknown");
    await fill(store, "A", 20);
    await fill(store, "B", 20);
    await flip(store, { expectedCurrent: null, target: "A" });
    const reader = await openReader({ subscribe: false, refreshIntervalMs: 0 });
    expect(
      (await reader.getMany("job", ["1", "99"], { version: "B" })).map((hit) => hit?.version ?? null),
    ).toEqual(["B", null]);
    await expect(reader.get("job", "1", { version: "Z" })).rejects.toSatisfy(
      (error) => isStoreError(error, "VERSION_NOT_FOUND") && /version Z/.test(error.message),
    );
  });
});

/** The client id of the connection subscribed to `channel` (the reader's own subscription). */
async function subscriberClientId(client: TestStore["client"], channel: string): Promise<string> {
  expect(await subscribers(client, channel)).toBe(1);
  const list = (await client.call("CLIENT", "LIST", "TYPE", "pubsub")) as string;
  // Other suites may hold subscriptions on the shared server: pick ours by its connection name.
  const name = (await client.call("CLIENT", "GETNAME")) as string;
  const ours = list.split("\n").filter((line) => line.includes(` name=${name} `) && / sub=1 /.test(line));
  expect(ours).toHaveLength(1);
  return /^id=(\d+) /.exec(ours[0] as string)?.[1] as string;
}

async function subscribers(client: TestStore["client"], channel: string): Promise<number> {
  const reply = (await client.pubsub("NUMSUB", channel)) as [string, number];
  return Number(reply[1]);
}

function epochReached(reader: StoreReader, epoch: number): Promise<PointerState> {
  if (reader.pointer.epoch >= epoch) return Promise.resolve(reader.pointer);
  return new Promise((resolve) => {
    const stop = reader.watcher.onChange((pointer) => {
      if (pointer.epoch < epoch) return;
      stop();
      resolve(pointer);
    });
  });
}

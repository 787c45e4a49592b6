/**
 * Conditional writes against real Redis (standalone and a three-master cluster): newer event wins,
 * replays are no-ops, deletes leave tombstones that stale replays cannot revive, and the coverage
 * counters stay exact through all of it.
 */

import { afterEach, describe, expect, it } from "vitest";
import type { StoreWrite } from "../../../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  countVersion,
  flip,
  isNewer,
  isStoreError,
  markVersionComplete,
  registerVersion,
} from "../../../store/index.ts";
import type { TestStore } from "./helpers.ts";
import { createTestStore, remove, testTargets, testVector, upsert } from "./helpers.ts";

describe.each(testTargets())("store writer on $name Redis", (target) => {
  let testStore: TestStore | undefined;
  afterEach(async () => {
    await testStore?.drop();
    testStore = undefined;
  });

  async function setup(label: string) {
    testStore = await createTestStore(target, label);
    const { store } = testStore;
    await registerVersion(store, "A", { modelDigest: "sha256:A", dimension: 4 });
    const writer = new StoreWriter(store);
    const readAll = async (idCount: number) => {
      await markVersionComplete(store, "A");
      await flip(store, { expectedCurrent: null, target: "A" });
      const reader = await StoreReader.open(store, { subscribe: false, refreshIntervalMs: 0 });
      try {
        return await reader.getMany(
          "job",
          Array.from({ length: idCount }, (_, id) => String(id)),
        );
      } finally {
        await reader.close();
      }
    };
    return { store, writer, readAll };
  }

  it("keeps the newest event whatever order the events arrive in", async () => {
    const { writer, store } = await setup("order");
    const first = upsert("A", 1, 1_000, 10, 1);
    const second = upsert("A", 1, 2_000, 5, 2); // later event time wins despite a lower offset
    const third = upsert("A", 1, 2_000, 6, 3); // same time, higher offset wins
    expect(await writer.write([third])).toEqual(["created"]);
    expect(await writer.write([first, second])).toEqual(["stale", "stale"]);
    expect(await writer.write([third])).toEqual(["stale"]); // exact replay: no-op
    const [meta] = await writer.readMeta("A", [{ entity: "job", id: "1" }]);
    expect(meta).toMatchObject({ live: true, eventTimeMs: 2_000, offset: 6, contentHash: "h3" });
    const newer = upsert("A", 1, 2_000, 7, 4);
    expect(await writer.write([newer])).toEqual(["updated"]);
    expect(await countVersion(store, "A")).toMatchObject({ live: 1, tombstones: 0 });
  });

  it("orders events of one event time by partition, then offset, exactly as isNewer does", async () => {
    const { writer } = await setup("partitions");
    // Every pair of positions from a grid with ties in each field: the script keeps the incoming write
    // exactly when isNewer says so. A key moved to an added partition (offsets from 0) wins a tie.
    const grid = [-1, 0, 1].flatMap((partition) =>
      [0, 5].flatMap((offset) => [1_000, 2_000].map((eventTimeMs) => ({ eventTimeMs, partition, offset }))),
    );
    let id = 0;
    for (const stored of grid) {
      for (const incoming of grid) {
        id += 1;
        const at = (position: typeof stored, revision: number) => ({
          ...upsert("A", id, position.eventTimeMs, position.offset, revision),
          partition: position.partition,
        });
        await writer.write([at(stored, 1)]);
        const [outcome] = await writer.write([at(incoming, 2)]);
        expect({ stored, incoming, outcome }).toEqual({
          stored,
          incoming,
          outcome: isNewer(incoming, stored) ? "updated" : "stale",
        });
      }
    }
    expect(
      isNewer(
        { eventTimeMs: 1_000, partition: 1, offset: 0 },
        { eventTimeMs: 1_000, partition: 0, offset: 5 },
      ),
    ).toBe(true);
  });

  it("converges to the newest event under a shuffled replay of a whole changelog", async () => {
    const { writer, store, readAll } = await setup("replay");
    // 60 ids, each with 5 events; every third id ends deleted. Expected state = the last event per id.
    const events: StoreWrite[] = [];
    const expected = new Map<number, number | "deleted">();
    for (let id = 0; id < 60; id++) {
      for (let revision = 0; revision < 5; revision++) {
        const time = 10_000 + revision * 100;
        const offset = id * 10 + revision;
        const last = revision === 4;
        if (last && id % 3 === 0) {
          events.push(remove("A", id, time, offset));
          expected.set(id, "deleted");
        } else {
          events.push(upsert("A", id, time, offset, revision));
          if (last) expected.set(id, revision);
        }
      }
    }
    const shuffled = shuffle(events, 42);
    // Deliver in batches, then replay everything again, shuffled differently.
    for (let start = 0; start < shuffled.length; start += 37)
      await writer.write(shuffled.slice(start, start + 37));
    const replay = await writer.write(shuffle(events, 7));
    expect(replay.every((outcome) => outcome === "stale")).toBe(true);

    const hits = await readAll(60);
    hits.forEach((hit, id) => {
      const want = expected.get(id);
      if (want === "deleted") expect(hit).toBeNull();
      else expect(hit && [...hit.vector]).toEqual(testVector("A", id, want));
    });
    expect(await countVersion(store, "A")).toMatchObject({ live: 40, tombstones: 20 });
  });

  it("never revives a deleted record from a replayed older upsert", async () => {
    const { writer, store } = await setup("tombstone");
    expect(await writer.write([upsert("A", 7, 1_000, 1)])).toEqual(["created"]);
    expect(await writer.write([remove("A", 7, 2_000, 2)])).toEqual(["deleted"]);
    expect(await writer.write([upsert("A", 7, 1_500, 9)])).toEqual(["stale"]);
    expect(await writer.write([remove("A", 7, 2_000, 2)])).toEqual(["stale"]); // replayed delete
    const [meta] = await writer.readMeta("A", [{ entity: "job", id: "7" }]);
    expect(meta).toMatchObject({ live: false, eventTimeMs: 2_000, offset: 2 });
    expect(await countVersion(store, "A")).toMatchObject({ live: 0, tombstones: 1 });
    // A genuinely newer upsert (the entity was re-created) does come back.
    expect(await writer.write([upsert("A", 7, 3_000, 3)])).toEqual(["created"]);
    expect(await countVersion(store, "A")).toMatchObject({ live: 1, tombstones: 0 });
  });

  it("records a tombstone for a delete of a record never seen, so its older upsert stays out", async () => {
    const { writer, store } = await setup("unseen");
    expect(await writer.write([remove("A", 3, 5_000, 50)])).toEqual(["tombstoned"]);
    expect(await writer.write([upsert("A", 3, 4_000, 40)])).toEqual(["stale"]);
    expect(await countVersion(store, "A")).toMatchObject({ live: 0, tombstones: 1 });
  });

  it("advances a live record with the same content to a newer position, keeping its vector", async () => {
    const { writer, store, readAll } = await setup("advance");
    const advance = (id: number, eventTimeMs: number, offset: number, revision: number): StoreWrite => ({
      kind: "advance",
      version: "A",
      entity: "job",
      id: String(id),
      eventTimeMs,
      offset,
      partition: 0,
      contentHash: `h${revision}`,
    });
    await writer.write([upsert("A", 0, 1_000, 1, 5), upsert("A", 1, 1_000, 1, 5), remove("A", 2, 1_000, 1)]);
    expect(
      await writer.write([
        advance(0, 3_000, 3, 5), // same text, newer: moves
        advance(1, 3_000, 3, 6), // another text is stored: nothing
        advance(2, 3_000, 3, 5), // deleted: stays deleted
        advance(3, 3_000, 3, 5), // never written: nothing
        advance(0, 3_000, 3, 5), // replay: stale
      ]),
    ).toEqual(["advanced", "stale", "stale", "stale", "stale"]);
    // The late event between the two positions now loses.
    expect(await writer.write([upsert("A", 0, 2_000, 2, 7)])).toEqual(["stale"]);
    const metas = await writer.readMeta(
      "A",
      [0, 1, 2, 3].map((id) => ({ entity: "job", id: String(id) })),
    );
    expect(metas.map((meta) => meta && [meta.live, meta.eventTimeMs, meta.contentHash])).toEqual([
      [true, 3_000, "h5"],
      [true, 1_000, "h5"],
      [false, 1_000, ""],
      null,
    ]);
    expect(await countVersion(store, "A")).toMatchObject({ live: 2, tombstones: 1 });
    const [hit] = await readAll(1);
    expect(Array.from(hit!.vector)).toEqual(testVector("A", 0, 5));
  });

  it("keeps versions independent", async () => {
    const { writer, store } = await setup("versions");
    await registerVersion(store, "B", { modelDigest: "sha256:B", dimension: 4 });
    await writer.write([upsert("A", 1, 1_000, 1), upsert("B", 1, 500, 1), remove("B", 2, 500, 2)]);
    expect(await countVersion(store, "A")).toMatchObject({ live: 1, tombstones: 0 });
    expect(await countVersion(store, "B")).toMatchObject({ live: 1, tombstones: 1 });
  });

  it("exposes stored content hashes for change detection", async () => {
    const { writer } = await setup("hashes");
    await writer.write([upsert("A", 1, 1_000, 1, 5), remove("A", 2, 1_000, 2)]);
    const metas = await writer.readMeta("A", [
      { entity: "job", id: "1" },
      { entity: "job", id: "2" },
      { entity: "job", id: "3" },
    ]);
    expect(metas.map((meta) => meta && { live: meta.live, contentHash: meta.contentHash })).toEqual([
      { live: true, contentHash: "h5" },
      { live: false, contentHash: "" },
      null,
    ]);
  });

  it("writes a large batch across every bucket and cluster node in pipelines", async () => {
    const { writer, store } = await setup("bulk");
    const batch = Array.from({ length: 2_500 }, (_, id) => upsert("A", id, 1_000, id));
    const outcomes = await writer.write(batch);
    expect(outcomes.filter((outcome) => outcome === "created")).toHaveLength(2_500);
    expect((await countVersion(store, "A")).live).toBe(2_500);
  });

  it("rejects an invalid batch before writing any of it", async () => {
    const { writer, store } = await setup("invalid");
    const bad = { ...upsert("A", 2, 1_000, 1), vector: [1, Number.NaN, 0, 0] };
    await expect(writer.write([upsert("A", 1, 1_000, 1), bad])).rejects.toSatisfy((error) =>
      isStoreError(error, "INVALID_ARGUMENT"),
    );
    expect((await countVersion(store, "A")).live).toBe(0);
  });
});

/** Deterministic Fisher-Yates shuffle (so a failure reproduces). */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}

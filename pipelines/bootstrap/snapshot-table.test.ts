import { describe, expect, it } from "vitest";
import { SnapshotTable, type SnapshotChange, type SnapshotEntry } from "./snapshot-table.ts";

const entry = (id: string, offset: number, text = `text of ${id}@${offset}`): SnapshotEntry => ({
  id,
  partition: 0,
  offset,
  eventTimeMs: 1_000 + offset,
  text: { text, hash: `hash-${text}` },
});

const described = (changes: SnapshotChange[]) => changes.map((each) => [each.id, each.op, each.offset]);

describe("SnapshotTable", () => {
  it("keeps the latest record per key, in the order of those latest records", () => {
    const table = new SnapshotTable();
    table.upsert(entry("a", 0));
    table.upsert(entry("b", 1));
    table.upsert(entry("a", 2));
    table.upsert(entry("c", 3));
    expect(described(table.changesAfter(-1))).toEqual([
      ["b", "upsert", 1],
      ["a", "upsert", 2],
      ["c", "upsert", 3],
    ]);
  });

  it("keeps a deleted key as a delete at its position, which a later upsert replaces", () => {
    // The delete must be written: the key's update may be on another partition (added later), which
    // another replay writes, or in the store from an earlier run.
    const table = new SnapshotTable();
    table.upsert(entry("a", 0));
    table.upsert(entry("b", 1));
    table.delete("a", { eventTimeMs: 1_002, offset: 2, partition: 0 });
    table.delete("never-seen", { eventTimeMs: 1_003, offset: 3, partition: 0 });
    expect(table.changesAfter(-1)).toEqual([
      { op: "upsert", ...entry("b", 1) },
      { op: "delete", id: "a", eventTimeMs: 1_002, offset: 2, partition: 0, text: null },
      { op: "delete", id: "never-seen", eventTimeMs: 1_003, offset: 3, partition: 0, text: null },
    ]);
    table.upsert(entry("a", 4));
    expect(described(table.changesAfter(-1))).toEqual([
      ["b", "upsert", 1],
      ["never-seen", "delete", 3],
      ["a", "upsert", 4],
    ]);
  });

  it("returns only what lies after a checkpointed offset", () => {
    const table = new SnapshotTable();
    for (let offset = 0; offset < 6; offset++) table.upsert(entry(`k${offset % 4}`, offset));
    table.delete("k1", { eventTimeMs: 2_000, offset: 6, partition: 0 });
    expect(table.changesAfter(3).map((each) => each.offset)).toEqual([4, 6]);
  });

  it("keeps a key's newest record by event time, then offset, as the store does, not its last one", () => {
    const table = new SnapshotTable();
    const at = (id: string, offset: number, eventTimeMs: number): SnapshotEntry => ({
      ...entry(id, offset),
      eventTimeMs,
    });
    table.upsert(at("late", 0, 200));
    table.upsert(at("late", 1, 100)); // a late event loses
    table.upsert(at("old-delete", 2, 300));
    table.delete("old-delete", { eventTimeMs: 250, offset: 3, partition: 0 }); // a delete older than the update loses
    table.upsert(at("too-early", 4, 100));
    table.delete("too-early", { eventTimeMs: 150, offset: 5, partition: 0 });
    table.upsert(at("too-early", 6, 120)); // a re-create older than the delete loses
    table.upsert(at("tie", 7, 500));
    table.upsert(at("tie", 8, 500)); // same event time: the later offset wins
    expect(described(table.changesAfter(-1))).toEqual([
      ["late", "upsert", 0],
      ["old-delete", "upsert", 2],
      ["too-early", "delete", 5],
      ["tie", "upsert", 8],
    ]);
  });
});

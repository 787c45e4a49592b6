import { describe, expect, it } from "vitest";
import { SnapshotTable, type SnapshotEntry } from "./snapshot-table.ts";

const entry = (id: string, offset: number, text = `text of ${id}@${offset}`): SnapshotEntry => ({
  id,
  partition: 0,
  offset,
  eventTimeMs: 1_000 + offset,
  text: { text, hash: `hash-${text}` },
});

describe("SnapshotTable", () => {
  it("keeps the latest record per key, in the order of those latest records", () => {
    const table = new SnapshotTable();
    table.upsert(entry("a", 0));
    table.upsert(entry("b", 1));
    table.upsert(entry("a", 2));
    table.upsert(entry("c", 3));
    expect(table.entriesAfter(-1).map((each) => [each.id, each.offset])).toEqual([
      ["b", 1],
      ["a", 2],
      ["c", 3],
    ]);
    expect(table.counts).toEqual({ superseded: 1, dropped: 0 });
  });

  it("drops a deleted key, and a later upsert brings it back", () => {
    const table = new SnapshotTable();
    table.upsert(entry("a", 0));
    table.upsert(entry("b", 1));
    table.delete("a", { eventTimeMs: 1_002, offset: 2 });
    table.delete("never-seen", { eventTimeMs: 1_003, offset: 3 });
    expect(table.entriesAfter(-1).map((each) => each.id)).toEqual(["b"]);
    table.upsert(entry("a", 4));
    expect(table.entriesAfter(-1).map((each) => each.id)).toEqual(["b", "a"]);
    expect(table.counts).toEqual({ superseded: 1, dropped: 1 }); // "never-seen": its latest record is a delete
    expect(table.size).toBe(2);
  });

  it("returns only what lies after a checkpointed offset", () => {
    const table = new SnapshotTable();
    for (let offset = 0; offset < 6; offset++) table.upsert(entry(`k${offset % 4}`, offset));
    expect(table.entriesAfter(3).map((each) => each.offset)).toEqual([4, 5]);
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
    table.delete("old-delete", { eventTimeMs: 250, offset: 3 }); // a delete older than the update loses
    table.upsert(at("too-early", 4, 100));
    table.delete("too-early", { eventTimeMs: 150, offset: 5 });
    table.upsert(at("too-early", 6, 120)); // a re-create older than the delete loses
    table.upsert(at("tie", 7, 500));
    table.upsert(at("tie", 8, 500)); // same event time: the later offset wins
    expect(table.entriesAfter(-1).map((each) => [each.id, each.offset])).toEqual([
      ["late", 0],
      ["old-delete", 2],
      ["tie", 8],
    ]);
    expect(table.counts).toEqual({ superseded: 4, dropped: 1 });
  });
});

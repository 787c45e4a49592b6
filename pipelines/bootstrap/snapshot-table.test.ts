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
    table.delete("a");
    table.delete("never-seen");
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
});

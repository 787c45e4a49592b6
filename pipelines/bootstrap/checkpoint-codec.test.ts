import { describe, expect, it } from "vitest";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  percentDone,
  totalRecords,
  zeroCounts,
  type CheckpointState,
} from "./checkpoint-codec.ts";

const state = (overrides: Partial<CheckpointState> = {}): CheckpointState => ({
  fingerprint: "f00d",
  phase: "running",
  attempt: 2,
  startedAtMs: 1_000,
  updatedAtMs: 2_000,
  watermarks: { topic: "jobs", capturedAtMs: 900, partitions: [{ partition: 0, offset: 40 }] },
  units: {
    p0: { start: 0, end: 40, position: 10, done: false },
    p2: { start: 20, end: 60, position: 60, done: true },
  },
  counts: { ...zeroCounts(), processed: 50, written: 12, embedded: 3, deduplicated: 9 },
  ...overrides,
});

describe("checkpoint codec", () => {
  it("round-trips through flat string fields an operator can read", () => {
    const fields = encodeCheckpoint(state());
    expect(fields).toMatchObject({
      phase: "running",
      attempt: "2",
      processed: "50",
      percent: "62",
      written: "12",
    });
    expect(Object.values(fields).every((value) => typeof value === "string")).toBe(true);
    expect(decodeCheckpoint(fields)).toEqual({
      ...state(),
      runUid: undefined,
      finishedAtMs: undefined,
      error: undefined,
      waiting: undefined,
      failedCodes: {},
    });
  });

  it("keeps the failed records by code, and reads a checkpoint without them (older shards) as unknown", () => {
    const failedCodes = { EMBEDDING_FAILED: 3, NO_FIELDS: 1 };
    const fields = encodeCheckpoint(state({ failedCodes, counts: { ...zeroCounts(), failed: 4 } }));
    expect(fields.failedCodes).toBe('{"EMBEDDING_FAILED":3,"NO_FIELDS":1}');
    expect(decodeCheckpoint(fields)?.failedCodes).toEqual(failedCodes);
    const { failedCodes: _, ...older } = fields;
    expect(decodeCheckpoint(older)?.failedCodes).toBeUndefined();
    expect(() => decodeCheckpoint({ ...fields, failedCodes: '{"X":-1}' })).toThrow(/failedCodes/);
  });

  it("carries what a running shard waits on, and a save without it clears it (every field written)", () => {
    const waiting = {
      dependency: "embedding",
      sinceMs: 1_500,
      error: "the embedding server fails every call",
    };
    const fields = encodeCheckpoint(state({ waiting }));
    expect(fields).toMatchObject({ waitingOn: "embedding", waitingSinceMs: "1500" });
    expect(decodeCheckpoint(fields)?.waiting).toEqual(waiting);
    // HSET of the next save over the same hash: the waiting fields are overwritten with empty values.
    const next = { ...fields, ...encodeCheckpoint(state()) };
    expect(next).toMatchObject({ waitingOn: "", waitingSinceMs: "", waitingError: "" });
    expect(decodeCheckpoint(next)?.waiting).toBeUndefined();
    // A checkpoint of an older shard has no such fields.
    const { waitingOn: _a, waitingSinceMs: _b, waitingError: _c, ...older } = fields;
    expect(decodeCheckpoint(older)?.waiting).toBeUndefined();
  });

  it("keeps the run uid a checkpoint was made for, and reads one without it (older shards) as unknown", () => {
    expect(decodeCheckpoint(encodeCheckpoint(state({ runUid: "uid-1" })))?.runUid).toBe("uid-1");
    const { runUid: _, ...older } = encodeCheckpoint(state());
    expect(decodeCheckpoint(older)?.runUid).toBeUndefined();
  });

  it("reads an empty hash as no checkpoint", () => {
    expect(decodeCheckpoint({})).toBeNull();
  });

  it("refuses a checkpoint it does not understand rather than resuming from a misread one", () => {
    expect(() => decodeCheckpoint({ ...encodeCheckpoint(state()), format: "9" })).toThrow("malformed");
    expect(() => decodeCheckpoint({ ...encodeCheckpoint(state()), units: "{" })).toThrow("units is not JSON");
    expect(() => decodeCheckpoint({ ...encodeCheckpoint(state()), units: '{"p0":{"start":-1}}' })).toThrow(
      "units are malformed",
    );
  });
});

describe("percentDone", () => {
  it("weights units by size when every end is known and reaches 100 only when done", () => {
    expect(percentDone(state())).toBe(62); // (10 + 40) of 80 offsets
    const allDone = state({
      units: { p0: { start: 0, end: 40, position: 40, done: true } },
    });
    expect(percentDone(allDone)).toBe(99);
    expect(percentDone({ ...allDone, phase: "done" })).toBe(100);
  });

  it("averages units when some sizes are unknown", () => {
    const files = state({
      units: {
        f0: { start: 0, end: 100, position: 50, done: false },
        f1: { start: 0, position: 0, done: false },
      },
    });
    expect(percentDone(files)).toBe(25);
  });
});

describe("totalRecords", () => {
  it("is the offsets in range for Kafka and the lines read once every file is done", () => {
    expect(totalRecords(state(), "kafka")).toBe(80);
    const files = state({ units: { f0: { start: 0, end: 10, position: 10, done: true } } });
    expect(totalRecords(files, "files")).toBe(50);
    expect(
      totalRecords(state({ units: { f0: { start: 0, position: 3, done: false } } }), "files"),
    ).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { createDecoder, parseEventTime, type SourceRecord } from "./decode.ts";

const record = (
  value: unknown,
  key: string | null = "job-1",
  timestamp = 1_700_000_000_000,
): SourceRecord => ({
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.from(typeof value === "string" ? value : JSON.stringify(value)),
  timestamp: BigInt(timestamp),
  partition: 0,
  offset: 7n,
});

describe("createDecoder", () => {
  const decode = createDecoder({
    keyPath: "$.jobId",
    eventTimePath: "$.updatedAt",
    delete: { path: "$.op", values: ["d", "delete"] },
  });

  it("decodes an upsert with the id and event time from the value", () => {
    const result = decode(record({ jobId: "j-42", updatedAt: "2026-11-25T10:00:00Z", title: "Nurse" }));
    expect(result).toEqual({
      ok: true,
      change: {
        op: "upsert",
        id: "j-42",
        eventTimeMs: Date.parse("2026-11-25T10:00:00Z"),
        document: expect.objectContaining({ title: "Nurse" }),
      },
    });
  });

  it("treats the delete rule's values as deletes", () => {
    const result = decode(record({ jobId: 42, updatedAt: 1_800_000_000_000, op: "d" }));
    expect(result).toEqual({ ok: true, change: { op: "delete", id: "42", eventTimeMs: 1_800_000_000_000 } });
  });

  it("treats a tombstone as a delete of the record key at the record time", () => {
    expect(decode(record(null, "j-9", 123))).toEqual({
      ok: true,
      change: { op: "delete", id: "j-9", eventTimeMs: 123 },
    });
  });

  it("dead-letters an empty value: only a null value is a tombstone (as for Kafka's compaction)", () => {
    expect(decode({ ...record(null, "j-9", 123), value: Buffer.alloc(0) })).toEqual({
      ok: false,
      failure: {
        code: "INVALID_JSON",
        reason: "value is empty (a tombstone has a null value, not an empty one)",
      },
    });
  });

  it.each([
    [record("{not json"), "INVALID_JSON", /^value is not JSON: /],
    [record("[1,2]"), "NOT_AN_OBJECT", /array/],
    [record({ updatedAt: 1 }), "MISSING_ID", /no entity id at \$\.jobId/],
    // An empty id is a missing id (README, dead-letter codes), not an invalid one.
    [record({ jobId: "", updatedAt: 1 }), "MISSING_ID", /no entity id at \$\.jobId/],
    [record({ jobId: "x", updatedAt: "yesterday" }), "INVALID_EVENT_TIME", /\$\.updatedAt/],
    [record({ jobId: "x".repeat(600), updatedAt: 1 }), "INVALID_ID", /longer than 512 bytes/],
    // An id that is there but of no usable type is invalid, not missing.
    [record({ jobId: 1.5, updatedAt: 1 }), "INVALID_ID", /at \$\.jobId is the number 1\.5/],
    // A producer's 12345678901234567890 (what JSON.parse makes of it: 12345678901234567000).
    [record('{"jobId":12345678901234567890,"updatedAt":1}'), "INVALID_ID", /not a safe integer/],
    [record({ jobId: { id: 1 }, updatedAt: 1 }), "INVALID_ID", /at \$\.jobId is an object/],
    [record({ jobId: true, updatedAt: 1 }), "INVALID_ID", /at \$\.jobId is a boolean/],
    [record({ jobId: null, updatedAt: 1 }), "MISSING_ID", /no entity id at \$\.jobId/],
    [record(null, null), "TOMBSTONE_WITHOUT_KEY", /without a UTF-8 record key/],
    [{ ...record({}), value: Uint8Array.from([0xff, 0xfe]) }, "INVALID_JSON", /not valid UTF-8/],
  ] as const)("reports %# as %s with a reason", (input, code, reason) => {
    const result = decode(input);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.failure.code).toBe(code);
      expect(result.failure.reason).toMatch(reason);
    }
  });

  it("falls back to the record key and timestamp without paths", () => {
    const plain = createDecoder({});
    expect(plain(record({ title: "x" }, "k-1", 55))).toEqual({
      ok: true,
      change: { op: "upsert", id: "k-1", eventTimeMs: 55, document: { title: "x" } },
    });
  });
});

describe("ids in JSON record keys (Debezium)", () => {
  // The project's member-profile example: Debezium's envelope, its key {"memberId": 7}.
  const debezium = { eventTimePath: "$.source.ts_ms", delete: { path: "$.op", values: ["d"] } };
  const key = JSON.stringify({ memberId: 7 });
  const update = {
    before: null,
    after: { memberId: 7, headline: "Nurse" },
    op: "u",
    source: { ts_ms: 1_800_000_000_000 },
  };
  const deleted = {
    before: { memberId: 7, headline: "Nurse" },
    after: null,
    op: "d",
    source: { ts_ms: 1_800_000_000_500 },
  };

  it("keys updates, delete events and tombstones by the id inside the key", () => {
    const decode = createDecoder({ ...debezium, recordKeyPath: "$.memberId" });
    expect(decode(record(update, key))).toMatchObject({ ok: true, change: { op: "upsert", id: "7" } });
    expect(decode(record(deleted, key))).toEqual({
      ok: true,
      change: { op: "delete", id: "7", eventTimeMs: 1_800_000_000_500 },
    });
    expect(decode(record(null, key, 1_800_000_000_501))).toEqual({
      ok: true,
      change: { op: "delete", id: "7", eventTimeMs: 1_800_000_000_501 },
    });
    const withSchemas = createDecoder({ ...debezium, recordKeyPath: "$.payload.memberId" });
    const enveloped = JSON.stringify({ schema: { type: "struct" }, payload: { memberId: "m-7" } });
    expect(withSchemas(record(null, enveloped))).toMatchObject({
      ok: true,
      change: { op: "delete", id: "m-7" },
    });
  });

  it("could not delete with the id in the value: the delete event has no $.after, the tombstone's key is JSON", () => {
    const decode = createDecoder({ ...debezium, keyPath: "$.after.memberId" });
    expect(decode(record(update, key))).toMatchObject({ ok: true, change: { id: "7" } });
    expect(decode(record(deleted, key))).toEqual({
      ok: false,
      failure: { code: "MISSING_ID", reason: "no entity id at $.after.memberId" },
    });
    expect(decode(record(null, key))).toMatchObject({ ok: true, change: { op: "delete", id: key } });
  });

  it("dead-letters a truncate event, which has no key, saying what it is and what stays", () => {
    // skipped.operations without "t": Debezium sends one event per truncated table, without a key.
    const truncate = { source: { ts_ms: 1_800_000_000_000 }, op: "t", ts_ms: 1_800_000_000_100 };
    for (const [decode, value] of [
      [createDecoder({ ...debezium, recordKeyPath: "$.memberId" }), truncate],
      [
        createDecoder({
          recordKeyPath: "$.payload.memberId",
          eventTimePath: "$.payload.source.ts_ms",
          delete: { path: "$.payload.op", values: ["d"] },
        }),
        { schema: { type: "struct" }, payload: truncate },
      ],
    ] as const) {
      const decoded = decode(record(value, null));
      expect(decoded).toMatchObject({ ok: false, failure: { code: "MISSING_ID" } });
      expect(decoded.ok || decoded.failure.reason).toMatch(
        /^no record key to use as the entity id: a truncate event \(op "t"\) names no row, so the vectors of the table's rows stay/,
      );
    }
    // Without a delete rule reading "t" the reason stays the plain one.
    expect(createDecoder({ recordKeyPath: "$.memberId" })(record(truncate, null))).toEqual({
      ok: false,
      failure: { code: "MISSING_ID", reason: "no record key to use as the entity id" },
    });
  });

  it("dead-letters a record key that is not UTF-8 as an invalid id, not as a missing key", () => {
    const key = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0x6d]);
    const reason = "the record key (7 bytes, starting 0000000007ff6d) is not valid UTF-8: ids are text";
    const document = Buffer.from(JSON.stringify({ title: "x" }));
    for (const decode of [createDecoder({}), createDecoder({ recordKeyPath: "$.memberId" })])
      expect(decode({ key, value: document, timestamp: 1000, partition: 0, offset: 0n })).toEqual({
        ok: false,
        failure: { code: "INVALID_ID", reason },
      });
    // A tombstone's keeps its documented code, with the same reason.
    expect(
      createDecoder({ keyPath: "$.jobId" })({ key, value: null, timestamp: 1000, partition: 0, offset: 0n }),
    ).toEqual({ ok: false, failure: { code: "TOMBSTONE_WITHOUT_KEY", reason } });
  });

  it("dead-letters keys without a usable id, saying where it looked", () => {
    const decode = createDecoder({ recordKeyPath: "$.memberId" });
    expect(decode(record({ a: 1 }, "m-7"))).toEqual({
      ok: false,
      failure: {
        code: "MISSING_ID",
        reason: "no entity id at $.memberId of the record key: the key is not JSON",
      },
    });
    expect(decode(record(null, JSON.stringify({ id: 7 })))).toEqual({
      ok: false,
      failure: { code: "MISSING_ID", reason: "no entity id at $.memberId of the record key" },
    });
    expect(decode(record({ a: 1 }, JSON.stringify({ memberId: 1.5 })))).toEqual({
      ok: false,
      failure: {
        code: "INVALID_ID",
        reason:
          "the entity id at $.memberId of the record key is the number 1.5: ids are strings or integers",
      },
    });
    expect(decode(record(null, null))).toMatchObject({
      ok: false,
      failure: { code: "TOMBSTONE_WITHOUT_KEY" },
    });
  });
});

describe("entity ids", () => {
  const decode = createDecoder({ keyPath: "$.jobId" });

  it("dead-letters an id with a lone surrogate, which UTF-8 store keys would merge with others", () => {
    expect(decode(record('{"jobId":"j\\ud800"}'))).toMatchObject({
      ok: false,
      failure: { code: "INVALID_ID", reason: expect.stringContaining("lone surrogate") },
    });
    expect(decode(record({ jobId: "j-✓-😀" }))).toMatchObject({ ok: true, change: { id: "j-✓-😀" } });
  });
});

describe("record timestamps", () => {
  const decode = createDecoder({ keyPath: "$.jobId" });

  it("dead-letters a record whose timestamp no Date can hold, tombstone or not", () => {
    for (const value of [{ jobId: "j-1" }, null]) {
      const result = decode(record(value, "j-1", 2 ** 60));
      expect(result).toMatchObject({ ok: false, failure: { code: "INVALID_EVENT_TIME" } });
    }
  });
});

describe("parseEventTime", () => {
  it("accepts RFC 3339 and epoch milliseconds only", () => {
    expect(parseEventTime("2026-01-02T03:04:05.678+01:00")).toBe(Date.parse("2026-01-02T02:04:05.678Z"));
    expect(parseEventTime(1700000000000)).toBe(1700000000000);
    expect(parseEventTime("1700000000000")).toBe(1700000000000);
    expect(parseEventTime("2026-01-02")).toBeUndefined();
    expect(parseEventTime(-1)).toBeUndefined();
    expect(parseEventTime(null)).toBeUndefined();
  });

  it("refuses dates and times that do not exist instead of rolling them over", () => {
    // Date.parse would read these as 2026-03-02, 2026-01-02T00:00 and 2026-01-01T00:00.
    expect(parseEventTime("2026-02-30T00:00:00Z")).toBeUndefined();
    expect(parseEventTime("2026-01-01T24:00:00Z")).toBeUndefined();
    expect(parseEventTime("2026-01-01T00:00:00+24:00")).toBeUndefined();
    expect(parseEventTime("2024-02-29T23:59:59.999-23:59")).toBe(Date.parse("2024-03-01T23:58:59.999Z"));
    expect(parseEventTime("2026-12-31t23:59:59z")).toBe(Date.parse("2026-12-31T23:59:59Z"));
  });

  it("refuses times no Date can hold, which the store and the output record cannot take", () => {
    expect(parseEventTime(8.64e15)).toBe(8.64e15);
    expect(parseEventTime(8.64e15 + 1)).toBeUndefined();
    expect(parseEventTime(9e15)).toBeUndefined();
    expect(parseEventTime(1e300)).toBeUndefined();
    expect(parseEventTime("9999999999999999")).toBeUndefined();
  });

  it("refuses RFC 3339 times before 1970, which the store refuses as negative epoch milliseconds", () => {
    // Accepted, one such event failed its batch's store write after the output was produced, on every
    // redelivery: the worker stopped and each restart repeated the batch's output records.
    expect(parseEventTime("1969-12-31T23:59:59.999Z")).toBeUndefined();
    expect(parseEventTime("0000-01-01T00:00:00Z")).toBeUndefined();
    expect(parseEventTime("1970-01-01T01:00:00+02:00")).toBeUndefined();
    expect(parseEventTime("1970-01-01T00:00:00Z")).toBe(0);
  });
});

describe("event times ahead of the clock", () => {
  const now = Date.parse("2026-12-03T12:00:00Z");
  const decode = createDecoder(
    { keyPath: "$.jobId", eventTimePath: "$.updatedAt", maxEventTimeAheadSeconds: 3600 },
    { now: () => now },
  );
  const byRecordTime = createDecoder({ maxEventTimeAheadSeconds: 3600 }, { now: () => now });

  it("accepts a time up to the limit ahead, and any time behind", () => {
    for (const updatedAt of ["2026-12-03T13:00:00Z", "2026-12-03T12:00:00Z", "1999-01-01T00:00:00Z"])
      expect(decode(record({ jobId: "j-1", updatedAt }))).toMatchObject({ ok: true });
  });

  it("dead-letters a change further ahead, naming how far and the setting", () => {
    const result = decode(record({ jobId: "j-1", updatedAt: "3000-01-01T00:00:00Z" }));
    expect(result).toMatchObject({ ok: false, failure: { code: "EVENT_TIME_AHEAD" } });
    if (result.ok) return;
    expect(result.failure.reason).toContain("3000-01-01T00:00:00.000Z is 973 years ahead");
    expect(result.failure.reason).toContain("decode.maxEventTimeAheadSeconds (3600)");
    expect(result.failure.reason).toContain('"j-1"');
    const justPast = decode(record({ jobId: "j-1", updatedAt: "2026-12-03T13:00:01Z" }));
    expect(justPast).toMatchObject({ ok: false, failure: { code: "EVENT_TIME_AHEAD" } });
  });

  it("applies to record timestamps and tombstones too", () => {
    const future = now + 2 * 3600 * 1000;
    for (const value of [{ jobId: "j-1" }, null])
      expect(byRecordTime(record(value, "j-1", future))).toMatchObject({
        ok: false,
        failure: { code: "EVENT_TIME_AHEAD", reason: expect.stringContaining("2 h ahead") },
      });
    expect(byRecordTime(record(null, "j-1", now + 3600 * 1000))).toMatchObject({ ok: true });
  });

  it("has no limit when none is set", () => {
    const unlimited = createDecoder({ keyPath: "$.jobId", eventTimePath: "$.updatedAt" }, { now: () => now });
    expect(unlimited(record({ jobId: "j-1", updatedAt: "3000-01-01T00:00:00Z" }))).toMatchObject({
      ok: true,
    });
  });
});

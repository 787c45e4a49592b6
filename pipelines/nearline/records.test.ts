import { describe, expect, it } from "vitest";
import {
  deadLetterRecord,
  maxDeadLetterHeaderBytes,
  maxDeadLetterKeyBytes,
  maxDeadLetterValueBytes,
  outputRecord,
  type ConsumedRecord,
} from "./records.ts";

const source: ConsumedRecord = {
  topic: "jobs",
  partition: 2,
  offset: 41n,
  timestamp: 0,
  key: Buffer.from("j1"),
  value: Buffer.from('{"id":"j1"}'),
};
const identity = { entity: "job", version: "v1", modelDigest: "sha256:m", templateHash: "0123456789abcdef" };

describe("nearline output records", () => {
  it("carries the vector as base64 of little-endian float32 with everything a point-in-time join needs", () => {
    const vector = Float32Array.of(1, -2.5);
    const record = outputRecord(
      "out",
      identity,
      source,
      { op: "upsert", id: "j1", eventTimeMs: 1000, document: {} },
      vector,
    );
    const value = JSON.parse(String(record.value));
    expect(record).toMatchObject({ topic: "out", key: "job/v1/j1", headers: { "jude.version": "v1" } });
    expect(value).toMatchObject({
      ...identity,
      id: "j1",
      op: "upsert",
      eventTime: "1970-01-01T00:00:01.000Z",
      source: { topic: "jobs", partition: 2, offset: "41" },
      dimensions: 2,
    });
    const bytes = Buffer.from(value.vector, "base64");
    expect([bytes.readFloatLE(0), bytes.readFloatLE(4)]).toEqual([1, -2.5]);
  });

  it("keys a record by entity, version and id, so a compacted topic keeps each version's and entity's latest", () => {
    const change = { op: "upsert", id: "a/1", eventTimeMs: 1000, document: {} } as const;
    const vector = Float32Array.of(1);
    const keys = [identity, { ...identity, version: "v2" }, { ...identity, entity: "member" }].map(
      (each) => outputRecord("out", each, source, change, vector).key,
    );
    expect(keys).toEqual(["job/v1/a/1", "job/v2/a/1", "member/v1/a/1"]);
  });

  it("marks a delete with a null vector", () => {
    const record = outputRecord(
      "out",
      identity,
      source,
      { op: "delete", id: "j1", eventTimeMs: 5 },
      undefined,
    );
    expect(JSON.parse(String(record.value))).toMatchObject({ op: "delete", vector: null, dimensions: 0 });
  });

  it("dead-letters the original bytes with the reason, its source position, and a bounded reason", () => {
    const record = deadLetterRecord("dlq", source, "INVALID_JSON", "x".repeat(5000), "v1");
    expect(record.key).toEqual(Buffer.from("j1"));
    expect(record.value).toEqual(Buffer.from('{"id":"j1"}'));
    expect(record.headers).toMatchObject({
      "jude.error.code": "INVALID_JSON",
      "jude.source.topic": "jobs",
      "jude.source.partition": "2",
      "jude.source.offset": "41",
    });
    expect(record.headers["jude.error.reason"]).toHaveLength(1000);
    expect(record.headers["jude.source.value-bytes"]).toBeUndefined();
  });

  it("names the version whose worker dead-lettered the record: during a promotion each version's does", () => {
    const [v1, v2] = ["minilm-v1", "minilm-v2"].map((version) =>
      deadLetterRecord(
        "dlq",
        { ...source, headers: new Map([[Buffer.from("jude.version"), Buffer.from("minilm-v0")]]) },
        "INVALID_JSON",
        "value is not JSON",
        version,
      ),
    );
    expect([v1!.headers["jude.version"], v2!.headers["jude.version"]]).toEqual(["minilm-v1", "minilm-v2"]);
    expect(v1!.carriedHeaders).toEqual([]);
  });

  it("dead-letters the original headers and timestamp too, its own headers winning a name clash", () => {
    const record = deadLetterRecord(
      "dlq",
      {
        ...source,
        timestamp: 1_700_000_000_000n,
        headers: new Map([
          [Buffer.from("traceparent"), Buffer.from("00-ab-cd-01")],
          [Buffer.from("schema-id"), Buffer.from([0, 0, 0, 7])],
          [Buffer.from("jude.error.code"), Buffer.from("INVALID_JSON")],
        ]),
      },
      "MISSING_ID",
      "no entity id at $.id",
      "v1",
    );
    expect(record.carriedHeaders).toEqual([
      ["traceparent", Buffer.from("00-ab-cd-01")],
      ["schema-id", Buffer.from([0, 0, 0, 7])],
    ]);
    expect(record.headers).toMatchObject({
      "jude.error.code": "MISSING_ID",
      "jude.source.timestamp": "1700000000000",
    });
  });

  it("dead-letters repeated source headers each, in order, and no stale value-bytes of a replay", () => {
    const record = deadLetterRecord(
      "dlq",
      {
        ...source,
        headers: new Map([
          [Buffer.from("baggage"), Buffer.from("a=1")],
          [Buffer.from("baggage"), Buffer.from("b=2")],
          [Buffer.from("jude.source.value-bytes"), Buffer.from("2000000")],
        ]),
      },
      "MISSING_ID",
      "no entity id at $.id",
      "v1",
    );
    expect(record.carriedHeaders).toEqual([
      ["baggage", Buffer.from("a=1")],
      ["baggage", Buffer.from("b=2")],
    ]);
    expect(record.headers["jude.source.value-bytes"]).toBeUndefined();
  });

  it("carries a header without a value (Kafka's null) as one without a value", () => {
    const headers = new Map<Buffer, Buffer | null | undefined>([
      [Buffer.from("x-null"), null],
      [Buffer.from("x-undefined"), undefined],
      [Buffer.from("x-set"), Buffer.from("1")],
    ]);
    const record = deadLetterRecord("dlq", { ...source, headers }, "INVALID_JSON", "not JSON", "v1");
    expect(record.carriedHeaders).toEqual([
      ["x-null", null],
      ["x-undefined", null],
      ["x-set", Buffer.from("1")],
    ]);
  });

  it("carries a header name that is not UTF-8 as its bytes", () => {
    const name = Buffer.from([0x78, 0xff, 0xfe]);
    const headers = new Map([[name, Buffer.from("1")]]);
    const record = deadLetterRecord("dlq", { ...source, headers }, "INVALID_JSON", "not JSON", "v1");
    expect(record.carriedHeaders).toEqual([[name, Buffer.from("1")]]);
  });

  it("cuts a value that would not fit under the broker's message limit with the headers, saying so", () => {
    const value = Buffer.alloc(1_048_400, "x");
    const record = deadLetterRecord("dlq", { ...source, value }, "INVALID_JSON", "value is not JSON", "v1");
    expect(record.value).toHaveLength(maxDeadLetterValueBytes);
    expect(record.headers["jude.source.value-bytes"]).toBe("1048400");
  });

  it("cuts a key and leaves out headers that would not fit under the broker's message limit, saying so", () => {
    const headers = new Map([
      [Buffer.from("traceparent"), Buffer.from("00-1")],
      [Buffer.from("blob"), Buffer.alloc(600_000, "h")],
      [Buffer.from("baggage"), Buffer.from("a=1")],
      // A replay's figures are the original's, not this record's.
      [Buffer.from("jude.source.key-bytes"), Buffer.from("7")],
      [Buffer.from("jude.source.headers-bytes"), Buffer.from("7")],
    ]);
    const key = Buffer.alloc(600_000, "k");
    const record = deadLetterRecord("dlq", { ...source, key, headers }, "INVALID_JSON", "not JSON", "v1");
    expect(record.key).toEqual(key.subarray(0, maxDeadLetterKeyBytes));
    expect(record.headers["jude.source.key-bytes"]).toBe("600000");
    expect(record.carriedHeaders).toEqual([
      ["traceparent", Buffer.from("00-1")],
      ["baggage", Buffer.from("a=1")],
    ]);
    expect(record.headers["jude.source.headers-bytes"]).toBe(String(11 + 4 + 4 + 600_000 + 7 + 3));
    expect(maxDeadLetterValueBytes + maxDeadLetterKeyBytes + maxDeadLetterHeaderBytes).toBeLessThan(
      1_000_000,
    );
  });

  it("carries a key and headers that fit whole, without saying anything was cut", () => {
    const key = Buffer.alloc(maxDeadLetterKeyBytes, "k");
    const headers = new Map([[Buffer.from("h"), Buffer.alloc(maxDeadLetterHeaderBytes - 1, "v")]]);
    const record = deadLetterRecord("dlq", { ...source, key, headers }, "INVALID_JSON", "not JSON", "v1");
    expect(record.key).toEqual(key);
    expect(record.carriedHeaders).toHaveLength(1);
    expect(record.headers["jude.source.key-bytes"]).toBeUndefined();
    expect(record.headers["jude.source.headers-bytes"]).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { decodeMeta, decodePayload, decodeVector, encodeMeta, encodePayload, encodeVector } from "./codec.ts";
import { isStoreError } from "./errors.ts";

describe("vector encoding", () => {
  it("stores float32 as little-endian bytes", () => {
    const bytes = encodeVector([1, -2.5], "f32");
    expect([...bytes]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0]);
    expect([...decodeVector(bytes, "f32", 2)]).toEqual([1, -2.5]);
  });

  it("stores float16 as little-endian bytes", () => {
    const bytes = encodeVector([1, -2], "f16");
    expect([...bytes]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect([...decodeVector(bytes, "f16", 2)]).toEqual([1, -2]);
  });

  it("rejects vectors that would poison similarity search", () => {
    expect(() => encodeVector([], "f32")).toThrow(/dimension/);
    expect(() => encodeVector([1, Number.NaN], "f32")).toThrow(/not finite/);
    expect(() => encodeVector([Number.POSITIVE_INFINITY], "f16")).toThrow(/not finite/);
  });
});

describe("data payload", () => {
  it("is an ASCII header line followed by the vector bytes", () => {
    const payload = encodePayload([0.5, 0.25, -1], "f32", "sha256:abc123");
    const newline = payload.indexOf(0x0a);
    expect(payload.subarray(0, newline).toString("latin1")).toBe("J1 f32 3 sha256:abc123");
    expect(payload.length).toBe(newline + 1 + 12);
    const decoded = decodePayload(payload);
    expect([...decoded.vector]).toEqual([0.5, 0.25, -1]);
    expect(decoded.modelDigest).toBe("sha256:abc123");
    expect(decoded.dtype).toBe("f32");
  });

  it("round-trips float16 payloads within half precision", () => {
    const decoded = decodePayload(encodePayload([0.1, 0.2, 0.3], "f16", "d"));
    expect(decoded.dtype).toBe("f16");
    decoded.vector.forEach((value, index) => expect(value).toBeCloseTo([0.1, 0.2, 0.3][index] as number, 3));
  });

  it.each([
    ["no header", Buffer.from([1, 2, 3])],
    ["wrong magic", Buffer.from("J9 f32 1 d\n\0\0\0\0", "latin1")],
    ["unknown dtype", Buffer.from("J1 f64 1 d\n\0\0\0\0\0\0\0\0", "latin1")],
    ["truncated vector", Buffer.from("J1 f32 2 d\n\0\0\0\0", "latin1")],
    ["bad dimension", Buffer.from("J1 f32 x d\n", "latin1")],
  ])("reports %s as CORRUPT_RECORD", (_name, payload) => {
    try {
      decodePayload(payload);
      expect.unreachable();
    } catch (error) {
      expect(isStoreError(error, "CORRUPT_RECORD")).toBe(true);
    }
  });

  it("refuses digests that would break the header", () => {
    expect(() => encodePayload([1], "f32", "has space")).toThrow(/digest/);
    expect(() => encodePayload([1], "f32", "line\nbreak")).toThrow(/digest/);
  });
});

describe("record metadata", () => {
  it("encodes live records and tombstones as documented", () => {
    const live = { live: true, eventTimeMs: 1700000000123, offset: 42, partition: 3, contentHash: "h1" };
    expect(encodeMeta(live)).toBe("L|1700000000123|42|3|h1");
    expect(decodeMeta("L|1700000000123|42|3|h1")).toEqual(live);
    const tombstone = { live: false, eventTimeMs: 5, offset: 0, partition: -1, contentHash: "" };
    expect(encodeMeta(tombstone)).toBe("D|5|0|-1|");
    expect(decodeMeta("D|5|0|-1|")).toEqual(tombstone);
  });

  it("rejects content hashes that could be mistaken for separators", () => {
    expect(() =>
      encodeMeta({ live: true, eventTimeMs: 1, offset: 1, partition: 0, contentHash: "a|b" }),
    ).toThrow(/content hash/);
  });

  it("reports malformed metadata as CORRUPT_RECORD", () => {
    try {
      decodeMeta("X|1|2|3|");
      expect.unreachable();
    } catch (error) {
      expect(isStoreError(error, "CORRUPT_RECORD")).toBe(true);
    }
  });
});

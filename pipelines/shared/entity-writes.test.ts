import { describe, expect, it } from "vitest";
import { isStale, toStoreWrite } from "./entity-writes.ts";

const target = { entity: "job", version: "v2", modelDigest: "sha256:m" };

describe("the pipelines' write path", () => {
  it("calls a change stale when the stored position is equal or newer (event time, then partition, then offset)", () => {
    const at = (eventTimeMs: number, partition: number, offset: number) => ({
      eventTimeMs,
      partition,
      offset,
    });
    expect(isStale(at(10, 0, 5), null)).toBe(false);
    expect(isStale(at(10, 0, 5), undefined)).toBe(false);
    expect(isStale(at(10, 0, 5), at(10, 0, 5))).toBe(true);
    expect(isStale(at(10, 0, 5), at(9, 0, 99))).toBe(false);
    expect(isStale(at(10, 0, 5), at(10, 0, 6))).toBe(true);
    // Offsets order events only within a partition: a key moved to an added partition starts at offset 0.
    expect(isStale(at(10, 1, 0), at(10, 0, 99))).toBe(false);
    expect(isStale(at(10, 0, 99), at(10, 1, 0))).toBe(true);
  });

  it("builds an upsert with the model digest and content hash, and a delete without a vector", () => {
    const vector = Float32Array.of(1, 2);
    expect(
      toStoreWrite(target, {
        id: "a",
        op: "upsert",
        eventTimeMs: 1,
        offset: 2,
        partition: 3,
        vector,
        contentHash: "h",
      }),
    ).toEqual({
      entity: "job",
      id: "a",
      version: "v2",
      eventTimeMs: 1,
      offset: 2,
      partition: 3,
      kind: "upsert",
      vector,
      modelDigest: "sha256:m",
      contentHash: "h",
    });
    expect(toStoreWrite(target, { id: "a", op: "delete", eventTimeMs: 1, offset: 2, partition: -1 })).toEqual(
      {
        entity: "job",
        id: "a",
        version: "v2",
        eventTimeMs: 1,
        offset: 2,
        partition: -1,
        kind: "delete",
      },
    );
  });
});

import { describe, expect, it } from "vitest";
import { isStoreError } from "./errors.ts";
import {
  bucketKeys,
  bucketOf,
  controlKeys,
  createLayout,
  defaultPrefix,
  fnv1a32,
  groupByBucket,
  recordField,
} from "./layout.ts";
import { keySlot } from "./slot.ts";

const layout = createLayout("jude:jobs", 1024);

describe("store key layout", () => {
  it("puts every control key in one cluster slot", () => {
    const keys = controlKeys(layout);
    expect(keys).toEqual({
      meta: "{jude:jobs}:meta",
      pointer: "{jude:jobs}:ptr",
      versions: "{jude:jobs}:versions",
      owner: "{jude:jobs}:owner",
      flipChannel: "{jude:jobs}:flips",
    });
    expect(new Set([keys.meta, keys.pointer, keys.versions, keys.owner].map(keySlot)).size).toBe(1);
  });

  it("puts all five hashes of a (version, bucket) in the bucket's slot, for every version", () => {
    const a = bucketKeys(layout, "A", 17);
    const b = bucketKeys(layout, "B", 17);
    expect(a).toEqual({
      meta: "{jude:jobs:17}:v:A:m",
      data: "{jude:jobs:17}:v:A:d",
      stats: "{jude:jobs:17}:v:A:s",
      texts: "{jude:jobs:17}:v:A:t",
      claims: "{jude:jobs:17}:v:A:c",
    });
    const slots = new Set([...Object.values(a), ...Object.values(b)].map(keySlot));
    expect(slots.size).toBe(1);
  });

  it("spreads buckets over many cluster slots", () => {
    const slots = new Set<number>();
    for (let bucket = 0; bucket < layout.buckets; bucket++)
      slots.add(keySlot(bucketKeys(layout, "A", bucket).data));
    // Distinct buckets may share a slot by CRC16 collision, but nearly all must differ.
    expect(slots.size).toBeGreaterThan(990);
  });

  it("derives buckets from FNV-1a of '<entity>:<id>' (the documented test vectors)", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    expect(recordField("job", "123")).toBe("job:123");
    expect(fnv1a32("job:123")).toBe(0xb8e701a6);
    expect(bucketOf(layout, "job:123")).toBe(422);
    // Over UTF-8 bytes (c3 a9), not UTF-16 code units.
    expect(fnv1a32("é")).toBe(0x1e9de8c1);
  });

  it("allows ids containing ':' but not entities", () => {
    expect(recordField("member", "urn:li:member:7")).toBe("member:urn:li:member:7");
    expect(() => recordField("a:b", "1")).toThrowError(/entity/);
    expect(() => recordField("job", "")).toThrowError(/id/);
  });

  it("refuses an id with a lone surrogate, which UTF-8 would turn into another record's U+FFFD", () => {
    expect(() => recordField("job", "j\ud800")).toThrowError(/well-formed Unicode/);
    expect(() => recordField("job", "\udc00x")).toThrowError(/well-formed Unicode/);
    expect(recordField("job", "j\ufffd")).toBe("job:j\ufffd");
    expect(recordField("job", "emoji\ud83d\ude42")).toBe("job:emoji\ud83d\ude42");
  });

  it("rejects prefixes and bucket counts that would break the layout", () => {
    for (const bad of ["", "a{b}", "with space"]) {
      expect(() => createLayout(bad)).toThrow();
    }
    for (const bad of [0, 16385, 1.5]) {
      try {
        createLayout("ok", bad);
        expect.unreachable();
      } catch (error) {
        expect(isStoreError(error, "INVALID_ARGUMENT")).toBe(true);
      }
    }
    expect(defaultPrefix("jobs")).toBe("jude:jobs");
    expect(() => defaultPrefix("bad name")).toThrow();
  });

  it("groups fields by bucket keeping input order", () => {
    const small = createLayout("p", 2);
    const fields = ["job:1", "job:2", "job:3", "job:4", "job:5"];
    const groups = groupByBucket(small, fields);
    const flattened = [...groups.values()].flat().sort();
    expect(flattened).toEqual([0, 1, 2, 3, 4]);
    for (const [bucket, indexes] of groups) {
      expect(indexes).toEqual([...indexes].sort());
      for (const index of indexes) expect(bucketOf(small, fields[index] as string)).toBe(bucket);
    }
  });
});

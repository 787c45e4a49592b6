import { describe, expect, it } from "vitest";
import { filesOfShard, ownsEntity, partitionsOfShard } from "./sharding.ts";

describe("partitionsOfShard", () => {
  it("gives every partition to exactly one shard", () => {
    const partitions = [5, 0, 3, 1, 4, 2, 6];
    const shares = [0, 1, 2].map((index) => partitionsOfShard(partitions, 3, index));
    expect(shares).toEqual([
      [0, 3, 6],
      [1, 4],
      [2, 5],
    ]);
  });

  it("leaves shards beyond the partition count idle", () => {
    expect(partitionsOfShard([0, 1], 4, 3)).toEqual([]);
  });
});

describe("filesOfShard", () => {
  const uris = ["file:///a", "file:///b", "file:///c", "file:///d", "file:///e"];

  it("splits whole files when there are at least as many files as shards", () => {
    expect(filesOfShard(uris, "auto", 2, 1)).toEqual({
      split: "file",
      files: [
        { fileIndex: 1, uri: "file:///b" },
        { fileIndex: 3, uri: "file:///d" },
      ],
    });
  });

  it("makes every shard read every file and filter by id when files are fewer than shards", () => {
    const share = filesOfShard(uris.slice(0, 2), "auto", 4, 2);
    expect(share.split).toBe("id");
    expect(share.files.map((file) => file.fileIndex)).toEqual([0, 1]);
  });

  it("honours an explicit split", () => {
    expect(filesOfShard(uris, "id", 2, 0).split).toBe("id");
    expect(filesOfShard(uris.slice(0, 1), "file", 2, 1).files).toEqual([]);
  });
});

describe("ownsEntity", () => {
  it("assigns each id to exactly one shard, spread over all of them", () => {
    const owners = Array.from({ length: 1000 }, (_, id) =>
      [0, 1, 2, 3].filter((index) => ownsEntity("job", String(id), 4, index)),
    );
    expect(owners.every((shards) => shards.length === 1)).toBe(true);
    const perShard = [0, 1, 2, 3].map((index) => owners.filter(([owner]) => owner === index).length);
    expect(Math.min(...perShard)).toBeGreaterThan(200);
  });

  it("uses the store layout's hash of <entity>:<id>", () => {
    // fnv1a32("job:123") = 0xb8e701a6 (README, "Store layout"), which is 2 mod 4.
    expect(ownsEntity("job", "123", 4, 0xb8e701a6 % 4)).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { crc16, hashTagOf, keySlot } from "./slot.ts";

describe("cluster key slots", () => {
  it("computes CRC16-XMODEM like the Redis Cluster specification", () => {
    // The specification's reference value: CRC16 of "123456789" is 0x31C3.
    expect(crc16(Buffer.from("123456789"))).toBe(0x31c3);
  });

  it("hashes only the first non-empty {tag}", () => {
    expect(hashTagOf("{user1000}.following")).toBe("user1000");
    expect(hashTagOf("foo{}{bar}")).toBe("foo{}{bar}");
    expect(hashTagOf("foo{{bar}}zap")).toBe("{bar");
    expect(hashTagOf("foo{bar}{zap}")).toBe("bar");
    expect(hashTagOf("plain")).toBe("plain");
  });

  it("matches slots reported by CLUSTER KEYSLOT", () => {
    // Values from `redis-cli CLUSTER KEYSLOT <key>` on Redis 7.0.
    expect(keySlot("foo")).toBe(12182);
    expect(keySlot("{user1000}.following")).toBe(keySlot("{user1000}.followers"));
    expect(keySlot("{jude:jobs:17}:v:A:m")).toBe(3736);
    expect(keySlot("{jude:jobs:17}:v:B:d")).toBe(3736);
  });
});

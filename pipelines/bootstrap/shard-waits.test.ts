import { describe, expect, it } from "vitest";
import type { ShardWaiting } from "./checkpoint-codec.ts";
import { ShardWaits } from "./shard-waits.ts";

describe("ShardWaits", () => {
  it("writes a wait once it has lasted reportAfterMs, again at most every rewriteMs, and starts over after a checkpoint", async () => {
    let now = 0;
    const saved: (ShardWaiting & { at: number })[] = [];
    const waits = new ShardWaits({ reportAfterMs: 5_000, rewriteMs: 30_000, now: () => now });
    await waits.retried("embedding", "before attach"); // no checkpoint yet: nothing to write
    waits.attach(async (waiting) => void saved.push({ ...waiting, at: now }));
    const at = async (ms: number, message: string) => {
      now = ms;
      await waits.retried("embedding", message);
    };
    await at(1_000, "first");
    await at(4_999, "passing");
    expect(saved).toEqual([]);
    await at(5_000, "lasting");
    await at(20_000, "still");
    await at(35_000, "later");
    expect(saved).toEqual([
      { dependency: "embedding", sinceMs: 0, error: "lasting", at: 5_000 },
      { dependency: "embedding", sinceMs: 0, error: "later", at: 35_000 },
    ]);
    waits.checkpointed();
    await at(40_000, "again");
    await at(45_000, "again, lasting");
    expect(saved.at(-1)).toEqual({
      dependency: "embedding",
      sinceMs: 40_000,
      error: "again, lasting",
      at: 45_000,
    });
  });
});

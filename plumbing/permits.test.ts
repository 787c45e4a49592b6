import { describe, expect, it } from "vitest";
import { Permits } from "./permits.ts";

describe("Permits", () => {
  it("grants up to the limit and refuses beyond it without waiting", () => {
    const permits = new Permits(3);
    const first = permits.tryAcquire(2);
    expect(first?.count).toBe(2);
    expect(permits.tryAcquire(2)).toBeUndefined();
    expect(permits.inUse).toBe(2);
    expect(permits.tryAcquire(1)).toBeDefined();
    expect(permits.inUse).toBe(3);
  });

  it("returns permits once, however often release is called", () => {
    const permits = new Permits(2);
    const permit = permits.tryAcquire(2);
    permit?.release();
    permit?.release();
    expect(permits.inUse).toBe(0);
  });

  it("rejects nonsensical limits", () => {
    expect(() => new Permits(0)).toThrow(RangeError);
  });
});

describe("Permits, waiting", () => {
  it("serves waiters in arrival order as permits come back", async () => {
    const permits = new Permits(2);
    const held = await permits.acquire(2);
    const order: string[] = [];
    const first = permits.acquire(1).then((permit) => (order.push("first"), permit));
    const second = permits.acquire(2).then((permit) => (order.push("second"), permit));
    // A waiter is queued: an immediate taker must not jump ahead of it.
    expect(permits.tryAcquire(1)).toBeUndefined();
    held.release();
    (await first).release();
    (await second).release();
    expect(order).toEqual(["first", "second"]);
    expect(permits.inUse).toBe(0);
  });

  it("bounds the work running at once and releases on failure", async () => {
    const permits = new Permits(2);
    let running = 0;
    let most = 0;
    const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
    const runs = gates.map((gate, index) =>
      permits.run(async () => {
        running++;
        most = Math.max(most, running);
        await gate.promise;
        running--;
        if (index === 0) throw new Error("first fails");
        return index;
      }),
    );
    for (const gate of gates) {
      gate.resolve();
      await Promise.resolve();
    }
    const settled = await Promise.allSettled(runs);
    expect(settled[0]?.status).toBe("rejected");
    expect(settled.slice(1).map((each) => (each.status === "fulfilled" ? each.value : null))).toEqual([
      1, 2, 3, 4,
    ]);
    expect(most).toBe(2);
    expect(permits.inUse).toBe(0);
  });

  it("gives up waiting when the signal aborts, and lets the next waiter through", async () => {
    const permits = new Permits(1);
    const held = await permits.acquire();
    const abort = new AbortController();
    const abandoned = permits.acquire(1, abort.signal);
    const next = permits.acquire(1);
    abort.abort(new Error("stopping"));
    await expect(abandoned).rejects.toThrow("stopping");
    held.release();
    (await next).release();
    expect(permits.inUse).toBe(0);
  });

  it("refuses to wait for more permits than exist", async () => {
    await expect(new Permits(2).acquire(3)).rejects.toThrow(RangeError);
  });
});

import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { drainWithin, watchShutdownSignals, type SignalSource } from "./shutdown.ts";

function fakeProcess(): EventEmitter & SignalSource {
  return new EventEmitter() as EventEmitter & SignalSource;
}

describe("watchShutdownSignals", () => {
  it("asks for a graceful stop on the first signal and forces on the second", async () => {
    const source = fakeProcess();
    const shutdown = watchShutdownSignals(source);
    expect(shutdown.signal.aborted).toBe(false);
    source.emit("SIGTERM", "SIGTERM");
    expect(await shutdown.requested).toBe("SIGTERM");
    expect(shutdown.signal.aborted).toBe(true);
    expect(String(shutdown.signal.reason)).toContain("received SIGTERM");
    source.emit("SIGINT", "SIGINT");
    expect(await shutdown.forced).toBe("SIGINT");
    shutdown.dispose();
    expect(source.listenerCount("SIGTERM") + source.listenerCount("SIGINT")).toBe(0);
  });
});

describe("drainWithin", () => {
  it("reports a drain that finished in time and does not call onTimeout", async () => {
    let expired = false;
    expect(await drainWithin(Promise.resolve(), 10_000, () => (expired = true))).toBe(true);
    expect(expired).toBe(false);
  });

  it("calls onTimeout when the work outlives the limit, then waits for it to end", async () => {
    const work = Promise.withResolvers<void>();
    const drained = drainWithin(work.promise, 1, () => work.resolve());
    expect(await drained).toBe(false);
  });

  it("passes the work's failure on", async () => {
    await expect(drainWithin(Promise.reject(new Error("lost")), 1_000, () => undefined)).rejects.toThrow(
      "lost",
    );
  });
});

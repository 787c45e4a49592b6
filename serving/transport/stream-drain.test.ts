import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { onDrainStart } from "./stream-drain.ts";

describe("onDrainStart", () => {
  it("finishes an open stream once when the drain starts, and forgets a closed one", () => {
    const drain = new AbortController();
    const open = new EventEmitter();
    const closed = new EventEmitter();
    const finished: string[] = [];
    onDrainStart(drain.signal, open, () => finished.push("open"));
    onDrainStart(drain.signal, closed, () => finished.push("closed"));
    closed.emit("cancelled");
    drain.abort();
    drain.abort();
    expect(finished).toEqual(["open"]);
  });

  it("finishes a stream opened during the drain on the next tick", async () => {
    const drain = new AbortController();
    drain.abort();
    let finished = false;
    onDrainStart(drain.signal, new EventEmitter(), () => (finished = true));
    expect(finished).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(finished).toBe(true);
  });
});

import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { servingErrors } from "../core/errors.ts";
import { onStreamEnd } from "./stream-drain.ts";

describe("onStreamEnd", () => {
  it("finishes an open stream once when the drain starts, and forgets a closed one", () => {
    const drain = new AbortController();
    const open = new EventEmitter();
    const closed = new EventEmitter();
    const finished: string[] = [];
    onStreamEnd(drain.signal, open, (reason) => finished.push(`open ${reason.code}`));
    onStreamEnd(drain.signal, closed, () => finished.push("closed"));
    closed.emit("cancelled");
    drain.abort(servingErrors.draining());
    drain.abort();
    expect(finished).toEqual(["open DRAINING"]);
  });

  it("finishes a stream opened during the drain on the next tick", async () => {
    const drain = new AbortController();
    drain.abort(servingErrors.draining());
    let finished = false;
    onStreamEnd(drain.signal, new EventEmitter(), () => (finished = true));
    expect(finished).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(finished).toBe(true);
  });

  it("finishes with the signal's reason: a connection's maximum age", () => {
    const age = new AbortController();
    const reasons: string[] = [];
    onStreamEnd(age.signal, new EventEmitter(), (reason) => reasons.push(reason.code));
    age.abort(servingErrors.maxConnectionAge());
    expect(reasons).toEqual(["MAX_CONNECTION_AGE"]);
  });
});

import { getEventListeners } from "node:events";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { BatchSource } from "./batch-source.ts";

describe("BatchSource", () => {
  it("leaves no listener on the worker's long-lived signal after a batch its linger closed", async () => {
    const stream = new PassThrough({ objectMode: true });
    const source = new BatchSource<number>(stream, { maxEvents: 100, lingerMs: 1 });
    const abort = new AbortController();
    for (let item = 0; item < 20; item++) {
      stream.write(item);
      expect(await source.next(abort.signal)).toEqual([item]);
    }
    expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
  });

  it("hands out every item a stream delivered before it failed, then the failure", async () => {
    const stream = new PassThrough({ objectMode: true });
    const source = new BatchSource<number>(stream, { maxEvents: 2, lingerMs: 10_000 });
    for (const item of [1, 2, 3, 4]) stream.write(item);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await source.next()).toEqual([1, 2]);
    await new Promise((resolve) => setImmediate(resolve));
    stream.destroy(new Error("fetch failed"));
    await new Promise((resolve) => setImmediate(resolve));
    // The worker resumes a new stream after the last item it processed, so none may be dropped here
    // (and none may be invented: what the stream never delivered is read again from that position).
    expect(await source.next()).toEqual([3, 4]);
    await expect(source.next()).rejects.toThrow("fetch failed");
  });

  it("closes a batch at maxEvents and pauses the stream while a full batch waits", async () => {
    const stream = new PassThrough({ objectMode: true });
    const source = new BatchSource<number>(stream, { maxEvents: 2, lingerMs: 10_000 });
    for (const item of [1, 2, 3, 4, 5]) stream.write(item);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.isPaused()).toBe(true);
    expect(await source.next()).toEqual([1, 2]);
    stream.end();
    expect(await source.next()).toEqual([3, 4]);
    expect(await source.next()).toEqual([5]);
    expect(await source.next()).toEqual([]);
  });
});

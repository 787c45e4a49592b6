import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { StreamWindow, streamWindowSize } from "./stream-window.ts";

/** A stream that records whether it is paused, and can emit "drain". */
class FakeStream extends EventEmitter {
  paused = false;
  pauses = 0;
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
}

describe("streamWindowSize", () => {
  it("keeps one stream's worst case (window - 1 + one full request) within the permits", () => {
    for (const [maxInputsPerCall, permits] of [
      [128, 512],
      [4, 4],
      [1, 1],
      [300, 512],
      [32, 100],
    ] as const) {
      const size = streamWindowSize({ maxInputsPerCall, permits });
      expect(size).toBeGreaterThanOrEqual(1);
      expect(size - 1 + maxInputsPerCall).toBeLessThanOrEqual(permits);
    }
    expect(streamWindowSize({ maxInputsPerCall: 128, permits: 512 })).toBe(128);
  });
});

describe("StreamWindow", () => {
  it("pauses reading at the window and resumes when an answer frees a place", () => {
    const stream = new FakeStream();
    const window = new StreamWindow(stream, 3);
    window.admit(1);
    window.admit(1);
    expect(stream.paused).toBe(false);
    window.admit(1);
    expect(stream.paused).toBe(true);
    window.release(1);
    expect(stream.paused).toBe(false);
    expect(window.inFlight).toBe(2);
  });

  it("counts inputs, so one big request can fill the window", () => {
    const stream = new FakeStream();
    const window = new StreamWindow(stream, 4);
    window.admit(6);
    expect(stream.paused).toBe(true);
    window.release(6);
    expect(stream.paused).toBe(false);
  });

  it("stays paused while the client does not read answers, even with free places", () => {
    const stream = new FakeStream();
    const window = new StreamWindow(stream, 3);
    window.admit(1);
    window.wrote(false);
    window.release(1);
    expect(stream.paused).toBe(true);
    window.wrote(false); // a second refused write waits for the same drain
    stream.emit("drain");
    expect(stream.paused).toBe(false);
    expect(stream.listenerCount("drain")).toBe(0);
    window.wrote(true);
    expect(stream.paused).toBe(false);
  });

  it("refuses a window that is not a positive integer", () => {
    expect(() => new StreamWindow(new FakeStream(), 0)).toThrow(/positive integer, got 0/);
  });
});

import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { isServingError } from "../core/errors.ts";
import { DropBudget } from "./drop-budget.ts";
import { BodyBudget, dropUnreadBody, parseJsonBody, readBody } from "./http-body.ts";

const body = (text: string): Buffer => Buffer.from(text, "utf8");

function refusal(text: string): { code: string; message: string } | undefined {
  try {
    parseJsonBody(body(text));
    return undefined;
  } catch (error) {
    if (!isServingError(error)) throw error;
    return { code: error.code, message: error.message };
  }
}

describe("parseJsonBody", () => {
  it("parses UTF-8 JSON, surrogate pairs written as escapes included (Python's json.dumps writes emoji so)", () => {
    expect(parseJsonBody(body('{"input": ["caf\\u00e9", "rocket \\ud83d\\ude80", "ok"]}'))).toEqual({
      input: ["café", "rocket 🚀", "ok"],
    });
    // An escaped backslash before "ud800" is not an escape of a surrogate.
    expect(parseJsonBody(body('{"input": "\\\\ud800"}'))).toEqual({ input: "\\ud800" });
  });

  it("refuses a string with an unpaired surrogate escape, naming where it is", () => {
    // Python's surrogateescape turns a Latin-1 byte into U+DCxx, which json.dumps sends as "\udce9": a
    // string no UTF-8 encodes. The tokenizer would drop it as a control character and embed "caf au
    // lait" as a success, the data loss a Latin-1 body is refused for.
    expect(refusal('{"input": "caf\\udce9 au lait"}')).toEqual({
      code: "MALFORMED_REQUEST",
      message:
        "malformed request: input holds an unpaired surrogate (\\udce9): text must be Unicode, as UTF-8 can encode it",
    });
    expect(refusal('{"inputs": ["ok", "lone \\uD83D high"]}')?.message).toMatch(
      /^malformed request: inputs\.1 holds an unpaired surrogate \(\\ud83d\)/,
    );
    expect(refusal('{"input": "x", "extra": {"\\udc80": 1}}')?.message).toMatch(
      /^malformed request: a key of extra holds an unpaired surrogate/,
    );
  });

  it("refuses a body that is not UTF-8 or not JSON", () => {
    expect(refusal('{"input": "\ufffd"}')).toBeUndefined(); // U+FFFD itself is text
    expect(() => parseJsonBody(Buffer.from([0x22, 0xe9, 0x22]))).toThrow(/not valid UTF-8/);
    expect(() => parseJsonBody(body("{input:"))).toThrow(/not valid JSON/);
  });
});

/** A request stand-in: a stream of body bytes with the headers readBody looks at. */
function fakeRequest(
  headers: Record<string, string> = {},
): PassThrough & { headers: Record<string, string> } {
  return Object.assign(new PassThrough(), { headers, complete: false });
}

describe("readBody", () => {
  it("refuses a body found too large at once, its rest left unread for the refusal to drop", async () => {
    const budget = new BodyBudget(100);
    const request = fakeRequest();
    const reservation = budget.reservation();
    const refused = readBody(request as unknown as IncomingMessage, 60, reservation).catch(
      (error: unknown) => error,
    );
    request.write(Buffer.alloc(50, 0x20));
    while (request.readableLength > 0) await new Promise((resolve) => setImmediate(resolve)); // read
    request.write(Buffer.alloc(20, 0x20)); // 70 bytes: over the limit
    expect(await refused).toMatchObject({ code: "MESSAGE_TOO_LARGE" });
    // The caller gives the bytes back before the rest is dropped: another request can hold it all.
    reservation.release();
    expect(() => budget.reservation().grow(100)).not.toThrow();
  });
});

describe("dropUnreadBody", () => {
  it("reads and drops the rest of a body until it ends", async () => {
    const request = fakeRequest();
    request.write(Buffer.alloc(1000, 0x20));
    const dropped = dropUnreadBody(request as unknown as IncomingMessage);
    expect(request.readableFlowing).toBe(true);
    request.write(Buffer.alloc(1000, 0x20));
    request.end();
    await dropped;
    expect(request.readableEnded).toBe(true);
  });

  it("stops waiting for a body that goes on arriving once told to stop", async () => {
    const request = fakeRequest();
    request.write(Buffer.alloc(1000, 0x20));
    const stop = new AbortController();
    const dropped = dropUnreadBody(request as unknown as IncomingMessage, stop.signal);
    stop.abort();
    await dropped;
    expect(request.readableEnded).toBe(false);
    // Told to stop already: no wait at all.
    await dropUnreadBody(request as unknown as IncomingMessage, stop.signal);
  });

  it("stops reading once the shared drop budget's bytes are spent, and begins no drop beyond its count", async () => {
    const cuts: string[] = [];
    const budget = new DropBudget(
      { maxConcurrent: 1, burstBytes: 1500, bytesPerSecond: 0 },
      { dropped: () => undefined, cut: (reason) => cuts.push(reason) },
    );
    const request = fakeRequest();
    const dropped = dropUnreadBody(request as unknown as IncomingMessage, undefined, budget);
    // A second drop while the first runs is not begun.
    await dropUnreadBody(fakeRequest() as unknown as IncomingMessage, undefined, budget);
    expect(cuts).toEqual(["concurrent"]);
    request.write(Buffer.alloc(1000, 0x20));
    request.write(Buffer.alloc(1000, 0x20)); // 2000 bytes: over the 1500
    await dropped;
    expect(cuts).toEqual(["concurrent", "bytes"]);
    expect(request.isPaused()).toBe(true);
    expect(request.readableEnded).toBe(false);
  });
});

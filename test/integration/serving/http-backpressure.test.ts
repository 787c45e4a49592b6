/**
 * HTTP bodies are buffered before their inputs can be counted against the permits, so the bytes of
 * bodies held at once have a budget (8 x maxMessageBytes); beyond it requests get 429 at once.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { startServer } from "./helpers.ts";

const MAX_MESSAGE_BYTES = 64 * 1024;
let server: EmbeddingServer;

beforeAll(async () => {
  // One input per batch: every request holds its body while the ones before it are embedded.
  server = await startServer({
    limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
    batching: { maxBatchSize: 1, maxQueueDelayMs: 0 },
  });
});
afterAll(() => server.close());

it("refuses requests with 429 while the body budget is spent, and serves the rest", async () => {
  const body = JSON.stringify({ input: "Registered nurse, intensive care. ".repeat(1_700), truncate: true });
  expect(body.length).toBeGreaterThan(MAX_MESSAGE_BYTES * 0.8);
  const responses = await Promise.all(
    Array.from({ length: 12 }, async () => {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      return {
        status: response.status,
        body: (await response.json()) as { error?: { code: string; message: string } },
      };
    }),
  );
  const refused = responses.filter((response) => response.status === 429);
  expect(refused.length).toBeGreaterThan(0);
  for (const response of refused) {
    expect(response.body.error).toEqual({
      code: "JUDE_SERVING_OVERLOADED",
      type: "rate_limit_error",
      message: `overloaded: more than ${8 * MAX_MESSAGE_BYTES} bytes of request bodies are being received; retry with backoff`,
    });
  }
  expect(responses.filter((response) => response.status === 200).length).toBe(12 - refused.length);
});

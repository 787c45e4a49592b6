/**
 * HTTP bodies are buffered before their inputs can be counted against the permits, so the bytes of
 * bodies being received at once have a budget (8 x maxMessageBytes); beyond it requests get 429 at
 * once. Slow uploads that hold most of the budget make the refusal deterministic; once they end,
 * requests are served again.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { waitFor } from "../../testbed/wait.ts";
import { startServer } from "./helpers.ts";
import { slowUpload } from "./uploads.ts";

const MAX_MESSAGE_BYTES = 64 * 1024;
let server: EmbeddingServer;

beforeAll(async () => {
  server = await startServer({ limits: { maxMessageBytes: MAX_MESSAGE_BYTES } });
});
afterAll(() => server.close());

async function embed(text: string) {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input: text, truncate: true }),
  });
  return { status: response.status, body: (await response.json()) as { error?: unknown } };
}

it("refuses requests with 429 while the body budget is spent, and serves again once it is free", async () => {
  // Eight uploads hold 8 x 63 KiB of the 512 KiB budget; a 9 KiB body no longer fits.
  const uploads = Array.from({ length: 8 }, () =>
    slowUpload(server.httpPort, MAX_MESSAGE_BYTES - 1, 63 * 1024),
  );
  const probe = "Registered nurse, intensive care. ".repeat(270);
  let refused: { status: number; body: { error?: unknown } } | undefined;
  try {
    await waitFor("a request to be refused while slow uploads hold the body budget", async () => {
      const answer = await embed(probe);
      if (answer.status === 429) refused = answer;
      return refused !== undefined;
    });
    expect(refused!.body.error).toEqual({
      code: "JUDE_SERVING_OVERLOADED",
      type: "rate_limit_error",
      param: null,
      message: `overloaded: more than ${8 * MAX_MESSAGE_BYTES} bytes of request bodies are being received; retry with backoff`,
    });
  } finally {
    for (const upload of uploads) upload.destroy();
  }
  await waitFor("the budget to be given back", async () => (await embed(probe)).status === 200);
});

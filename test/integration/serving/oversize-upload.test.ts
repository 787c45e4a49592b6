/**
 * A body over `maxMessageBytes` is refused 413 MESSAGE_TOO_LARGE, and the client must be able to read
 * that answer. Node's fetch (undici) goes on writing a large body after an early answer: the server
 * answered and closed the connection with the body unread, the kernel reset it, and fetch failed with
 * "write EPIPE" (a network error) instead of showing the 413. The server now reads and drops the rest
 * of a refused body (for at most 5 s) before it answers. A 50 MB body: a small one fits in the
 * kernel's buffers, and nothing is reset.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnServe, type ServeProcess } from "./helpers.ts";
import { streamedBody } from "./uploads.ts";

const LIMIT = 64 * 1024;
const BODY_BYTES = 50 * 1024 * 1024;

// `jude serve` in its own process: a server in the test's process shares its event loop with fetch,
// which then finds the answer before its write fails.
let server: ServeProcess;
beforeAll(async () => {
  server = await spawnServe(["--execution-provider=cpu", `--max-message-bytes=${LIMIT}`]);
  await server.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(async () => {
  server.child.kill("SIGKILL");
  await server.exited;
});

/** POSTs `body` with fetch; the status and error body, or the network failure's message. */
async function post(path: string, body: string | ReadableStream<Uint8Array>): Promise<unknown> {
  try {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      ...(typeof body === "string" ? {} : { duplex: "half" }),
    });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return `fetch failed: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`;
  }
}

it("answers a large body with a declared length 413 on OpenAI's route, which fetch reads", async () => {
  const body = JSON.stringify({ input: "x".repeat(BODY_BYTES) });
  expect(await post("/v1/embeddings", body)).toEqual({
    status: 413,
    body: {
      error: {
        message: `request of ${body.length} bytes is larger than the limit of ${LIMIT} bytes`,
        type: "invalid_request_error",
        param: null,
        code: "JUDE_SERVING_MESSAGE_TOO_LARGE",
      },
    },
  });
});

it("answers a large body with a declared length 413 on TEI's route, which fetch reads", async () => {
  const body = JSON.stringify({ inputs: "x".repeat(BODY_BYTES) });
  expect(await post("/embed", body)).toEqual({
    status: 413,
    body: {
      error: `request of ${body.length} bytes is larger than the limit of ${LIMIT} bytes`,
      error_type: "Validation",
    },
  });
});

it("answers a large chunked body 413, which fetch reads", async () => {
  const answer = (await post("/v1/embeddings", streamedBody(BODY_BYTES))) as {
    status: number;
    body: { error: { code: string } };
  };
  expect(answer).toMatchObject({ status: 413, body: { error: { code: "JUDE_SERVING_MESSAGE_TOO_LARGE" } } });
});

it("serves the next request after the refusals", async () => {
  expect(await post("/v1/embeddings", JSON.stringify({ input: "hello" }))).toMatchObject({ status: 200 });
});

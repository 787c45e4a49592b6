/**
 * Every refusal of a request whose body is still being sent must be readable by the client, as the
 * 413 of oversize-upload.test.ts is: the server reads and drops the rest of the body (for at most
 * 5 s) before it answers. Answering and closing with the body unread makes the kernel reset the
 * connection, and Node's fetch (undici), which goes on writing, then reports "write EPIPE" (or
 * ECONNRESET) instead of the status: a 401 (no token), a 415 (a compressed body) and a 429 (the body
 * budget spent mid-body) were lost so. Bodies of 50 MB: a small one fits in the kernel's buffers,
 * and nothing is reset.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnServe, type ServeProcess } from "./helpers.ts";
import { slowUpload, streamedBody } from "./uploads.ts";

const LIMIT = 64 * 1024;
const BODY_BYTES = 50 * 1024 * 1024;
const TOKEN = "refused-upload-token";

let server: ServeProcess;
let tokenDir: string;
beforeAll(async () => {
  tokenDir = await mkdtemp(join(tmpdir(), "jude-refused-upload-"));
  await writeFile(join(tokenDir, "token"), TOKEN);
  // In its own process: a server in the test's process shares its event loop with fetch, which then
  // finds the answer before its write fails.
  server = await spawnServe([
    "--execution-provider=cpu",
    `--max-message-bytes=${LIMIT}`,
    `--auth-token-file=${join(tokenDir, "token")}`,
  ]);
  await server.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
});
afterAll(async () => {
  server.child.kill("SIGKILL");
  await server.exited;
  await rm(tokenDir, { recursive: true, force: true });
});

/** POSTs `body` with fetch; the status and error body, or the network failure's message. */
async function post(
  path: string,
  body: string | ReadableStream<Uint8Array>,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
): Promise<unknown> {
  try {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
      ...(typeof body === "string" ? {} : { duplex: "half" }),
    });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return `fetch failed: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`;
  }
}

it("answers a large body without a token 401 on OpenAI's route, which fetch reads", async () => {
  const body = JSON.stringify({ input: "x".repeat(BODY_BYTES) });
  expect(await post("/v1/embeddings", body, {})).toMatchObject({
    status: 401,
    body: { error: { code: "JUDE_SERVING_UNAUTHENTICATED" } },
  });
});

it("answers a large streamed body with a wrong token 401 on TEI's route, which fetch reads", async () => {
  expect(await post("/embed", streamedBody(BODY_BYTES), { authorization: "Bearer wrong" })).toMatchObject({
    status: 401,
    body: { error_type: "Unauthorized" },
  });
});

it("answers a large compressed body 415, which fetch reads", async () => {
  expect(
    await post("/v1/embeddings", streamedBody(BODY_BYTES), {
      authorization: `Bearer ${TOKEN}`,
      "content-encoding": "gzip",
    }),
  ).toMatchObject({ status: 415, body: { error: { code: "JUDE_SERVING_UNSUPPORTED_ENCODING" } } });
});

it("answers a large body refused mid-body for the body budget 429, which fetch reads", async () => {
  // Eight uploads hold 8 x 63 KiB of the 512 KiB budget: the next body's first chunk does not fit.
  const uploads = Array.from({ length: 8 }, () =>
    slowUpload(server.httpPort, LIMIT - 1, 63 * 1024, { authorization: `Bearer ${TOKEN}` }),
  );
  try {
    // The uploads' bytes are counted as they arrive: wait until a small body is refused.
    for (;;) {
      const probe = (await post("/v1/embeddings", JSON.stringify({ input: "x".repeat(32 * 1024) }))) as {
        status: number;
      };
      if (probe.status === 429) break;
    }
    // Small chunks: the server finds the budget spent before it has read more than the limit.
    expect(await post("/v1/embeddings", streamedBody(BODY_BYTES, 4 * 1024))).toMatchObject({
      status: 429,
      body: { error: { code: "JUDE_SERVING_OVERLOADED", type: "rate_limit_error" } },
    });
  } finally {
    for (const upload of uploads) upload.destroy();
  }
});

it("serves the next request after the refusals", async () => {
  expect(await post("/v1/embeddings", JSON.stringify({ input: "hello" }))).toMatchObject({ status: 200 });
});

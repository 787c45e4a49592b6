/**
 * `Expect: 100-continue` (curl sends it for bodies over 1 MiB, .NET's HttpClient and many proxies for
 * any POST): the client waits for "100 Continue" before it uploads. A request the server will refuse
 * anyway — declared larger than limits.maxMessageBytes, or without the bearer token — gets its final
 * answer at once, without the 100, so the body is never sent; an acceptable one gets the 100 and is
 * answered as usual.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { startServer } from "./helpers.ts";

const TOKEN = "expect-continue-token";
const maxMessageBytes = 64 * 1024;
let server: EmbeddingServer;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "jude-expect-continue-"));
  const tokenFile = join(directory, "token");
  await writeFile(tokenFile, TOKEN);
  server = await startServer({ limits: { maxMessageBytes }, auth: { tokenFile } });
});
afterAll(async () => {
  await server?.close();
  await rm(directory, { recursive: true, force: true });
});

interface Outcome {
  /** Whether the server sent "100 Continue" (the body was sent only then). */
  continued: boolean;
  status: number;
  /** The answer's Connection header. */
  connection: string | undefined;
  body: string;
}

/** POSTs `body` with `Expect: 100-continue`, declaring `declaredBytes`; sends the body only after a 100. */
function postExpectingContinue(
  path: string,
  body: string,
  options: { token?: string; declaredBytes?: number },
) {
  return new Promise<Outcome>((resolve, reject) => {
    let continued = false;
    const call = request(
      {
        host: "127.0.0.1",
        port: server.httpPort,
        method: "POST",
        path,
        headers: {
          "content-type": "application/json",
          "content-length": options.declaredBytes ?? Buffer.byteLength(body),
          expect: "100-continue",
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () =>
          resolve({
            continued,
            status: response.statusCode ?? 0,
            connection: response.headers.connection,
            body: text,
          }),
        );
      },
    );
    call.on("continue", () => {
      continued = true;
      call.end(body);
    });
    call.on("error", reject);
    call.flushHeaders();
  });
}

const embedBody = JSON.stringify({ input: ["hello"] });

it("answers an acceptable request with 100 Continue, then the embeddings", async () => {
  const outcome = await postExpectingContinue("/v1/embeddings", embedBody, { token: TOKEN });
  expect(outcome).toMatchObject({ continued: true, status: 200 });
  expect(outcome.connection, "the connection stays open").not.toBe("close");
  expect(JSON.parse(outcome.body).data).toHaveLength(1);
});

it("refuses a body declared over the limit before it is sent (413, no 100 Continue)", async () => {
  const outcome = await postExpectingContinue("/v1/embeddings", embedBody, {
    token: TOKEN,
    declaredBytes: maxMessageBytes + 1,
  });
  // The body the client held back would be expected before a next request: the connection closes.
  expect(outcome).toMatchObject({ continued: false, status: 413, connection: "close" });
  expect(JSON.parse(outcome.body).error.message).toMatch(/larger than/);
});

it("refuses a request without the token before its body is sent (401, no 100 Continue), TEI's route too", async () => {
  const openAi = await postExpectingContinue("/v1/embeddings", embedBody, {});
  expect(openAi).toMatchObject({ continued: false, status: 401, connection: "close" });
  const tei = await postExpectingContinue("/embed", JSON.stringify({ inputs: "hello" }), {});
  expect(tei).toMatchObject({ continued: false, status: 401, connection: "close" });
  expect(JSON.parse(tei.body)).toHaveProperty("error_type");
});

it("answers a request for an unknown route or with a wrong method without 100 Continue", async () => {
  expect(await postExpectingContinue("/v1/nothing", embedBody, { token: TOKEN })).toMatchObject({
    continued: false,
    status: 404,
    connection: "close",
  });
  expect(await postExpectingContinue("/v1/models", embedBody, { token: TOKEN })).toMatchObject({
    continued: false,
    status: 405,
    connection: "close",
  });
});

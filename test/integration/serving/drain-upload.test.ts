/**
 * The HTTP call in flight at SIGTERM is answered with its vectors: the drain ended when the embedder
 * answered it, a few promise steps before its route sent the 200, and the listener's close answered
 * it 503 DRAINING in between, its vectors thrown away.
 *
 * An HTTP request whose body is still arriving when the drain ends (the embeddings in flight at
 * SIGTERM are answered; an upload is not an embedding in flight) is answered 503 DRAINING, which OpenAI's and TEI's clients retry on another
 * replica. The client must be able to read that answer: the server reads and drops the rest of the
 * body (for at most 5 s) before it answers, as for every refusal (refused-upload.test.ts), instead
 * of closing the connection with the body unread, which Node's fetch reported as "write EPIPE".
 */
import { expect, it } from "vitest";
import { longDrainText, metricValue, useDrainedServe } from "./helpers.ts";
import { streamedBody } from "./uploads.ts";

const BODY_BYTES = 3 * 1024 * 1024; // under the default maxMessageBytes (4 MiB)
const LONG_INPUTS = 16;

const { serve } = useDrainedServe();

it("answers the call in flight 200, a body still arriving when the drain ends a readable 503, and exits 0", async () => {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  // Its first chunk (the JSON's start) goes out; the rest waits for the drain.
  const body = streamedBody(BODY_BYTES, 64 * 1024, async () => {
    started.resolve();
    await gate.promise;
  });
  const answer = fetch(`http://127.0.0.1:${serve().httpPort}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    duplex: "half",
  }).then(
    async (response) => ({ status: response.status, body: await response.json() }),
    (error: Error) => `fetch failed: ${(error.cause as Error | undefined)?.message ?? error.message}`,
  );
  await started.promise;
  // A long call in flight: the drain ends when it is answered, with the upload long since received.
  const url = `http://127.0.0.1:${serve().httpPort}`;
  const long = fetch(`${url}/v1/embeddings`, {
    method: "POST",
    body: JSON.stringify({ input: Array.from({ length: LONG_INPUTS }, () => longDrainText), truncate: true }),
  });
  while (metricValue(await (await fetch(`${url}/metrics`)).text(), "jude_serving_in_flight") !== LONG_INPUTS);
  serve().child.kill("SIGTERM");
  const longAnswer = await long;
  expect({
    status: longAnswer.status,
    body: longAnswer.status === 200 ? "" : await longAnswer.text(),
  }).toEqual({ status: 200, body: "" });
  // The drain is over: the rest of the body goes out now.
  gate.resolve();
  expect(await answer).toMatchObject({
    status: 503,
    body: { error: { code: "JUDE_SERVING_DRAINING" } },
  });
  expect(await serve().exited).toBe(0);
});

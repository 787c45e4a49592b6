/**
 * An EmbedStream open across a drain (a pipeline streaming a corpus while its serving pod stops). Its
 * requests are refused in-stream with UNAVAILABLE DRAINING (retryable) while the server drains; when
 * the server stops, it cuts the stream (RST_STREAM CANCEL), which grpc-js reports as CANCELLED. The
 * client says a broken stream fails with a retryable error ("open a new one"), and a pipeline retries on
 * `retryable`: the cut stream must not read as a call the client cancelled itself (not retryable).
 */
import { afterAll, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import { startServer } from "./helpers.ts";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("a stream the draining server cuts fails with a retryable error", async () => {
  const server = await startServer();
  cleanups.push(() => server.close());
  const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
  cleanups.push(() => client.close());
  const stream = client.stream();
  expect((await stream.embed(["before the drain"])).vectors).toHaveLength(1);

  const finished = server.drain(60_000);
  // Refused in-stream while the server drains; then the stream breaks when the server stops.
  let failure: EmbeddingClientError;
  for (;;) {
    const error = await stream.embed(["during the drain"]).then(
      () => undefined,
      (rejected: unknown) => rejected,
    );
    expect(error).toBeInstanceOf(EmbeddingClientError);
    failure = error as EmbeddingClientError;
    if (failure.errorCode !== "JUDE_SERVING_DRAINING") break;
    expect(failure.retryable).toBe(true);
  }
  expect(await finished).toBe(true);
  expect({ status: failure.statusName, retryable: failure.retryable }).toEqual({
    status: "UNAVAILABLE",
    retryable: true,
  });
});

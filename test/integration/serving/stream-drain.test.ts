/**
 * An EmbedStream open across a drain (a pipeline streaming a corpus while its serving pod stops). The
 * drain's start ends it with UNAVAILABLE DRAINING once its requests in flight are answered (before,
 * it stayed open, its requests refused one by one, until the server cut it when the drain ended).
 * The client says a broken stream fails with a retryable error ("open a new one"), and a pipeline
 * retries on `retryable`: the ended stream's requests, and the stream itself, read so.
 * drain-streams.test.ts shows the same against `jude serve`, for jude's and TEI's streams.
 */
import { afterAll, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import { startServer } from "./helpers.ts";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("a stream open when the server drains ends with a retryable error", async () => {
  const server = await startServer();
  cleanups.push(() => server.close());
  const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
  cleanups.push(() => client.close());
  const stream = client.stream();
  expect((await stream.embed(["before the drain"])).vectors).toHaveLength(1);

  const finished = server.drain(60_000);
  const error = await stream.embed(["during the drain"]).then(
    () => undefined,
    (rejected: unknown) => rejected,
  );
  expect(error).toBeInstanceOf(EmbeddingClientError);
  const failure = error as EmbeddingClientError;
  expect({ status: failure.statusName, code: failure.errorCode, retryable: failure.retryable }).toEqual({
    status: "UNAVAILABLE",
    code: "JUDE_SERVING_DRAINING",
    retryable: true,
  });
  expect(await finished).toBe(true);
});

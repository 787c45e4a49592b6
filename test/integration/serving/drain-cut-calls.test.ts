/**
 * Unary calls still running when a drain times out are cut by the server (RST_STREAM CANCEL), which
 * grpc-js reports as CANCELLED. The embedding client must not report them as CANCELLED (the status of a
 * call its caller aborted, which pipelines neither retry nor blame on the server): the server gave up on
 * them, so they fail UNAVAILABLE, retryable on another replica. A call the caller aborts stays CANCELLED
 * (pipelines/embedding-client/client.test.ts).
 */
import { afterAll, expect, it } from "vitest";
import { EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import { serveWithCallsInFlight } from "./helpers.ts";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("calls the server cuts at the drain's timeout fail UNAVAILABLE, retryable", async () => {
  // Most of the calls are still running when the 1 ms drain ends.
  const { serve, calls } = await serveWithCallsInFlight(
    ["--drain-timeout-ms=1"],
    48,
    (call) =>
      call.then(
        () => "answered",
        (error: unknown) =>
          error instanceof EmbeddingClientError
            ? `${error.statusName} retryable=${error.retryable}`
            : String(error),
      ),
    cleanups,
  );

  serve.child.kill("SIGTERM");

  expect(await serve.exited).toBe(1);
  const failures = (await calls).filter((outcome) => outcome !== "answered");
  expect(failures.length).toBeGreaterThan(0);
  expect(new Set(failures)).toEqual(new Set(["UNAVAILABLE retryable=true"]));
});

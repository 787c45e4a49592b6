/**
 * Unary calls still running when a drain times out are cut by the server (RST_STREAM CANCEL), which
 * grpc-js reports as CANCELLED. The embedding client must not report them as CANCELLED (the status of a
 * call its caller aborted, which pipelines neither retry nor blame on the server): the server gave up on
 * them, so they fail UNAVAILABLE, retryable on another replica. A call the caller aborts stays CANCELLED
 * (pipelines/embedding-client/client.test.ts).
 */
import { afterAll, expect, it } from "vitest";
import { EmbeddingClient, EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const IN_FLIGHT = 48;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("calls the server cuts at the drain's timeout fail UNAVAILABLE, retryable", async () => {
  // Batches of two 256-token inputs: most of the calls are still running when the 1 ms drain ends.
  const serve: ServeProcess = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    "--drain-timeout-ms=1",
  ]);
  cleanups.push(() => serve.child.exitCode === null && serve.child.kill("SIGKILL"));
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  const client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}`, deadlineMs: 600_000 });
  cleanups.push(() => client.close());

  const inFlight = Array.from({ length: IN_FLIGHT }, () =>
    client.embed([longText], { truncate: true }).then(
      () => "answered",
      (error: unknown) =>
        error instanceof EmbeddingClientError
          ? `${error.statusName} retryable=${error.retryable}`
          : String(error),
    ),
  );
  const inFlightGauge = async (): Promise<number | undefined> =>
    metricValue(
      await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text(),
      "jude_serving_in_flight",
    );
  while ((await inFlightGauge()) !== IN_FLIGHT);

  serve.child.kill("SIGTERM");

  expect(await serve.exited).toBe(1);
  const outcomes = await Promise.all(inFlight);
  const failures = outcomes.filter((outcome) => outcome !== "answered");
  expect(failures.length).toBeGreaterThan(0);
  expect(new Set(failures)).toEqual(new Set(["UNAVAILABLE retryable=true"]));
});

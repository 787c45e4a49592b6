/**
 * A second SIGTERM during a drain means "now" (a user's second Ctrl-C, or a supervisor that will not
 * wait): the drain is cut short, the calls still running are cancelled, and `jude serve` exits 1 (the
 * drain did not complete). Before, the second signal joined the drain already running: the process
 * went on waiting for every call in flight, up to drainTimeoutMs, and exited 0.
 */
import { afterAll, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const IN_FLIGHT = 24;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("a second SIGTERM cuts the drain short: the calls in flight are cancelled and jude serve exits 1", async () => {
  // Batches of two 256-token inputs: the calls in flight take many seconds; the drain would wait
  // for them all (drain timeout ten minutes).
  const serve: ServeProcess = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    "--drain-timeout-ms=600000",
  ]);
  cleanups.push(() => serve.child.exitCode === null && serve.child.kill("SIGKILL"));
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  const client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}`, deadlineMs: 600_000 });
  cleanups.push(() => client.close());

  const inFlight = Array.from({ length: IN_FLIGHT }, () =>
    client.embed([longText], { truncate: true }).then(
      () => "answered",
      () => "failed",
    ),
  );
  const inFlightGauge = async (): Promise<number | undefined> =>
    metricValue(
      await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text(),
      "jude_serving_in_flight",
    );
  while ((await inFlightGauge()) !== IN_FLIGHT);

  serve.child.kill("SIGTERM");
  await serve.waitForLog((line) => line.msg === "draining");
  serve.child.kill("SIGTERM");

  expect(await serve.exited).toBe(1);
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: false });
  const outcomes = await Promise.all(inFlight);
  expect(outcomes).toContain("failed");
});

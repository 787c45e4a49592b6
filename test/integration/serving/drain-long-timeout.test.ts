/**
 * A drain timeout longer than a Node timer takes (2^31-1 ms, about 24.8 days: "wait as long as it
 * takes") must not end the drain at once. Node fires a longer timer after 1 ms, so such a drain "timed
 * out" as soon as it began: the calls in flight were cancelled and `jude serve` exited 1.
 */
import { afterAll, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const IN_FLIGHT = 8;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it("a drain timeout past the longest timer still waits for the calls in flight", async () => {
  const serve: ServeProcess = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    `--drain-timeout-ms=${2 ** 32}`,
  ]);
  cleanups.push(() => serve.child.exitCode === null && serve.child.kill("SIGKILL"));
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  const client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}`, deadlineMs: 600_000 });
  cleanups.push(() => client.close());

  const inFlight = Array.from({ length: IN_FLIGHT }, () =>
    client.embed([longText], { truncate: true }).then(
      (answer) => answer.vectors.length,
      (error: unknown) => String(error),
    ),
  );
  const inFlightGauge = async (): Promise<number | undefined> =>
    metricValue(
      await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text(),
      "jude_serving_in_flight",
    );
  while ((await inFlightGauge()) !== IN_FLIGHT);

  serve.child.kill("SIGTERM");

  expect(await Promise.all(inFlight)).toEqual(Array.from({ length: IN_FLIGHT }, () => 1));
  expect(await serve.exited).toBe(0);
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: true });
});

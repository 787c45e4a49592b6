/**
 * SIGTERM during load, as kubelet sends it: health flips to NOT_SERVING, new calls are refused, the
 * calls in flight complete, and `jude serve` exits 0.
 */
import { credentials, type Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  EmbeddingClient,
  EmbeddingClientError,
  type EmbedAnswer,
} from "../../../pipelines/embedding-client/client.ts";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const IN_FLIGHT = 24;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

let serve: ServeProcess;
let client: EmbeddingClient;

beforeAll(async () => {
  // Batches of two 256-token inputs: 24 calls take a while, so SIGTERM lands while they run.
  serve = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    "--drain-timeout-ms=60000",
  ]);
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}` });
});
afterAll(() => {
  client?.close();
  if (serve?.child.exitCode === null) serve.child.kill("SIGKILL");
});

it("drains on SIGTERM: health flips, new calls are refused, in-flight calls complete, exit 0", async () => {
  const health = new (loadProtos().health)(
    `127.0.0.1:${serve.grpcPort}`,
    credentials.createInsecure(),
  ) as Client & Record<string, (request: unknown) => NodeJS.ReadableStream>;
  const statuses: string[] = [];
  const watch = health.Watch!({ service: "jude.embedding.v1.EmbeddingService" });
  const notServing = new Promise<void>((resolve) =>
    watch.on("data", (message: { status: string }) => {
      statuses.push(message.status);
      if (message.status === "NOT_SERVING") resolve();
    }),
  );
  watch.on("error", () => {}); // the stream ends with the server

  const inFlight: Array<Promise<EmbedAnswer>> = Array.from({ length: IN_FLIGHT }, () =>
    client.embed([longText], { truncate: true }),
  );
  // Wait until the server has admitted every call (the in-flight gauge is exact: permits in use).
  for (;;) {
    const metrics = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
    if (metricValue(metrics, "jude_serving_in_flight") === IN_FLIGHT) break;
  }

  serve.child.kill("SIGTERM");
  await notServing;
  const refused = await client.embed(["a new call after SIGTERM"]).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(refused).toBeInstanceOf(EmbeddingClientError);
  expect((refused as EmbeddingClientError).statusName).toBe("UNAVAILABLE");

  const answers = await Promise.all(inFlight);
  expect(answers.every((answer) => answer.vectors[0]?.length === 384)).toBe(true);
  expect(await serve.exited).toBe(0);
  expect(statuses).toEqual(["SERVING", "NOT_SERVING"]);
  const draining = serve.logs.find((line) => line.msg === "draining");
  expect(draining?.inFlight).toBeGreaterThan(0);
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: true });
  health.close();
});

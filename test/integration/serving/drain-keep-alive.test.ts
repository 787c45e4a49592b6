/**
 * SIGTERM while an HTTP client holds a keep-alive connection (an OpenAI SDK's or a query encoder's
 * pool). A call refused with 503 DRAINING must end that connection: the client's retry then opens a new
 * one, through the Service to a pod that serves. Kept alive, every retry of the pool went back to the
 * draining pod on the same connection and was refused again, for as long as the drain lasted.
 */
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EmbeddingClient, type EmbedAnswer } from "../../../pipelines/embedding-client/client.ts";
import { metricValue, spawnServe, type ServeProcess } from "./helpers.ts";

const IN_FLIGHT = 24;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

let serve: ServeProcess;
let client: EmbeddingClient;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

beforeAll(async () => {
  // Batches of two 256-token inputs: 24 calls take a while, so the drain lasts while the client calls.
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
  agent.destroy();
  if (serve?.child.exitCode === null) serve.child.kill("SIGKILL");
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: { error?: { code?: string } };
  reusedSocket: boolean;
  socketClosed: Promise<void>;
}

function post(input: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const call = request(
      {
        agent,
        host: "127.0.0.1",
        port: serve.httpPort,
        path: "/v1/embeddings",
        method: "POST",
        headers: { "content-type": "application/json" },
      },
      (response) => {
        const socket = response.socket;
        const socketClosed = new Promise<void>((closed) => socket.once("close", () => closed()));
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: JSON.parse(Buffer.concat(chunks).toString()) as Answer["body"],
            reusedSocket: call.reusedSocket,
            socketClosed,
          }),
        );
      },
    );
    call.on("error", reject);
    call.end(JSON.stringify({ input }));
  });
}

it("ends a keep-alive connection with the 503 DRAINING it answers a new call with", async () => {
  const before = await post("a call before SIGTERM");
  expect(before.status).toBe(200);
  expect(before.headers.connection).toBe("keep-alive");

  const inFlight: Array<Promise<EmbedAnswer>> = Array.from({ length: IN_FLIGHT }, () =>
    client.embed([longText], { truncate: true }),
  );
  for (;;) {
    const metrics = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
    if (metricValue(metrics, "jude_serving_in_flight") === IN_FLIGHT) break;
  }
  serve.child.kill("SIGTERM");
  await serve.waitForLog((line) => line.msg === "draining");

  const refused = await post("a call after SIGTERM, on the same connection");
  expect(refused.reusedSocket).toBe(true);
  expect(refused.status).toBe(503);
  expect(refused.body.error?.code).toBe("JUDE_SERVING_DRAINING");
  expect(refused.headers.connection).toBe("close");
  await refused.socketClosed;
  // The drain is still going on: the calls in flight were answered after the refusal.
  expect(serve.logs.some((line) => line.msg === "stopped")).toBe(false);

  const answers = await Promise.all(inFlight);
  expect(answers.every((answer) => answer.vectors[0]?.length === 384)).toBe(true);
  expect(await serve.exited).toBe(0);
});

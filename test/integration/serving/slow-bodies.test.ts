/**
 * Clients that send their request bodies slowly hold the shared budget for bodies in flight (eight
 * maximal bodies): they are cut after limits.httpRequestTimeoutMs (408, connection closed), so they
 * cannot keep every other HTTP call refused for Node's default of five minutes.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { metricValue, startServer } from "./helpers.ts";

const maxMessageBytes = 64 * 1024;
let server: EmbeddingServer;

beforeAll(async () => {
  server = await startServer({ limits: { maxMessageBytes, httpRequestTimeoutMs: 1_500 } });
});
afterAll(() => server.close());

/** Starts a maximal body and stops one byte short; resolves with the socket and its eventual close. */
function slowSender(port: number): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(
        `POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${maxMessageBytes}\r\n\r\n`,
      );
      socket.write(Buffer.alloc(maxMessageBytes - 1, " "), () => resolve({ socket, closed }));
    });
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
    socket.on("error", reject);
    const closed = new Promise<string>((done) => socket.on("close", () => done(answer)));
  });
}

async function embedStatus(): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input: ["hello"] }),
  });
  await response.arrayBuffer();
  return response.status;
}

it("cuts slow senders at the request time limit, which frees the body budget", async () => {
  const senders = await Promise.all(Array.from({ length: 8 }, () => slowSender(server.httpPort)));
  // Wait until the server has taken all eight bodies in: then the budget is spent.
  await expect.poll(embedStatus, { timeout: 5_000, interval: 50 }).toBe(429);
  const outcome = await Promise.race([
    Promise.all(senders.map((sender) => sender.closed)),
    new Promise<"still open">((resolve) => setTimeout(() => resolve("still open"), 10_000)),
  ]);
  for (const sender of senders) sender.socket.destroy();
  expect(outcome).not.toBe("still open");
  expect(outcome[0]).toMatch(/^HTTP\/1\.1 408/);
  expect(await embedStatus()).toBe(200);
});

it("counts bodies that never arrived whole (cut at the time limit, or the client left) as CANCELLED, not INTERNAL", async () => {
  const cancelled = async () =>
    metricValue(
      await server.metrics.registry.metrics(),
      'jude_serving_requests_total{transport="http",method="embeddings",code="CANCELLED"}',
    ) ?? 0;
  const before = await cancelled();
  const { socket } = await slowSender(server.httpPort);
  socket.destroy();
  await expect.poll(cancelled, { timeout: 5_000, interval: 20 }).toBe(before + 1);
  // The eight bodies cut with 408 above were not server failures either.
  expect(before).toBe(8);
  expect(await server.metrics.registry.metrics()).not.toContain('code="INTERNAL"');
});

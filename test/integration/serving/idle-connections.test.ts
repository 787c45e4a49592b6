/**
 * Idle gRPC connections are closed after limits.grpcIdleConnectionMs (grpc-js keeps them forever by
 * default, so abandoned or hostile idle connections would pile up), and clients simply reconnect.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { startServer } from "./helpers.ts";

let server: EmbeddingServer;

beforeAll(async () => {
  server = await startServer({ limits: { grpcIdleConnectionMs: 1000 } });
});
afterAll(() => server.close());

/** Opens an HTTP/2 connection that never makes a call; resolves with how long the server kept it. */
function idleConnectionLifetimeMs(port: number, giveUpMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const socket = connect(port, "127.0.0.1", () => {
      // The client preface and an empty SETTINGS frame, then silence.
      socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    });
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve(Number.POSITIVE_INFINITY);
    }, giveUpMs);
    socket.on("data", () => undefined);
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve(Date.now() - startedAt);
    });
  });
}

it("closes a connection that carries no call", async () => {
  expect(await idleConnectionLifetimeMs(server.grpcPort, 15_000)).toBeLessThan(15_000);
});

it("lets a client call again after its idle connection was closed", async () => {
  const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}`, deadlineMs: 10_000 });
  try {
    expect((await client.embed(["first call"])).vectors).toHaveLength(1);
    await idleConnectionLifetimeMs(server.grpcPort, 15_000); // the same idle time passes for the client
    expect((await client.embed(["after the idle close"])).vectors).toHaveLength(1);
  } finally {
    client.close();
  }
});

/**
 * What grpc-server.ts reads of grpc-js's private state: the HTTP/2 servers it listens with
 * (`http2Servers`, a Map keyed by them), whose "session" events age connections (ageConnections) and
 * tell this server's sockets and streams from others'. Without them the server falls back to
 * grpc-js's own max_connection_age, which cuts EmbedStreams instead of ending them with
 * MAX_CONNECTION_AGE: a grpc-js release that renames the field fails here, by name.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";
import { connect } from "node:http2";
import { describe, expect, it } from "vitest";

describe("grpc-js internals grpc-server.ts relies on", () => {
  it("keeps the bound HTTP/2 servers in http2Servers, which see each connection's session", async () => {
    const server = new Server();
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    expect(servers, "grpc-js Server#http2Servers (see ownHttp2Servers in grpc-server.ts)").toBeInstanceOf(
      Map,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    try {
      const http2Servers = [...(servers as Map<EventEmitter, unknown>).keys()];
      expect(http2Servers).toHaveLength(1);
      const session = new Promise((resolve) => http2Servers[0]!.once("session", resolve));
      const client = connect(`http://127.0.0.1:${port}`);
      await session;
      client.close();
    } finally {
      server.forceShutdown();
    }
  });
});

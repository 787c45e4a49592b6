/**
 * The worker's operations endpoint: `/metrics` (Prometheus), `/healthz` (the process is alive) and
 * `/readyz` (the worker is consuming; probes and the operator read it). Nothing else is served.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/** Starts the endpoint on `port` (0 picks a free one) and resolves once it listens. */
export async function startOpsServer(options: {
  port: number;
  host?: string;
  registry: Registry;
  ready: () => boolean;
  /**
   * Whether /healthz answers 200 (default: always). A worker whose server is up before it has
   * started answers 503 there until then, so its startup probe counts the start as it did when
   * nothing listened yet.
   */
  live?: () => boolean;
  /** Extra JSON shown on /readyz (e.g. counts), so a human with curl sees what the worker did. */
  status?: () => Record<string, unknown>;
}): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET") {
      response.writeHead(405, { allow: "GET" }).end();
    } else if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": options.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else if (path === "/healthz") {
      const live = options.live?.() ?? true;
      response
        .writeHead(live ? 200 : 503, { "content-type": "text/plain" })
        .end(live ? "ok\n" : "starting\n");
    } else if (path === "/readyz") {
      const ready = options.ready();
      response
        .writeHead(ready ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify({ ready, ...(options.status?.() ?? {}) }) + "\n");
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

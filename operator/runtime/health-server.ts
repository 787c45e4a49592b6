// The operator's HTTP endpoints: /healthz (the process answers), /readyz (every readiness check
// passes; the body names each check), /metrics (Prometheus text).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** Starts the server on `port` (0 picks a free one) and resolves with it once listening. */
export async function startHealthServer(options: {
  host: string;
  port: number;
  registry: Registry;
  /** Readiness checks by name: undefined when ready, otherwise why not. */
  readiness: () => Record<string, string | undefined>;
}): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const checks = options.readiness();
      const failing = Object.values(checks).some((problem) => problem !== undefined);
      const body = Object.entries(checks)
        .map(([name, problem]) => `[${problem === undefined ? "+" : "-"}]${name} ${problem ?? "ok"}`)
        .join("\n");
      response.writeHead(failing ? 503 : 200, { "content-type": "text/plain" }).end(`${body}\n`);
    } else if (path === "/metrics") {
      options.registry
        .metrics()
        .then((text) => response.writeHead(200, { "content-type": options.registry.contentType }).end(text))
        .catch((error: unknown) => response.writeHead(500).end(String(error)));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}

/** The port a started server listens on. */
export function serverPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}

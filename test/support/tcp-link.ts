// A TCP forwarder a test can freeze: while frozen its connections stay open but nothing passes in
// either direction (a network that drops packets without resetting anything, as a partition or a
// hung load balancer does); thawed, what was held back is delivered. Also a kubeconfig that reaches
// the testbed's API server through such a link.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/** A running link; `port` is where it listens on 127.0.0.1. */
export interface TcpLink {
  port: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

/** Forwards every connection to `target` until closed. */
export async function startTcpLink(target: { host: string; port: number }): Promise<TcpLink> {
  let frozen = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (frozen) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
    from.on("end", () => (frozen ? held.push(() => to.end()) : to.end()));
    from.on("error", () => to.destroy());
    from.on("close", () => to.destroy());
  };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the link has no TCP address");
  return {
    port: address.port,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const deliver of held.splice(0)) deliver();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The API server's address in `kubeconfigPath`'s current cluster. */
export function apiServerAddress(kubeconfigPath: string): { host: string; port: number } {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const server = new URL(config.getCurrentCluster()?.server ?? "");
  return { host: server.hostname, port: Number(server.port || 443) };
}

/**
 * A copy of `kubeconfigPath` whose current cluster is reached at `port` on the same host (the
 * server's certificate names the host, not the port, so TLS still verifies).
 */
export function kubeconfigThrough(kubeconfigPath: string, port: number): string {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error(`${kubeconfigPath} has no current cluster`);
  const server = new URL(cluster.server);
  server.port = String(port);
  const clusters = config.clusters.map((entry) =>
    entry.name === cluster.name ? { ...entry, server: server.toString().replace(/\/$/, "") } : entry,
  );
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters,
    users: config.users,
    contexts: config.contexts,
    currentContext: config.currentContext,
  });
  const path = join(mkdtempSync(join(tmpdir(), "jude-link-")), "kubeconfig");
  writeFileSync(path, copy.exportConfig(), { mode: 0o600 });
  return path;
}

// A TCP forwarder a test can freeze: while frozen its connections stay open but nothing passes in
// either direction (a network that drops packets without resetting anything, as a partition or a
// hung load balancer does); thawed, what was held back is delivered. `freezeOpen` freezes only the
// connections open now, so new ones still work (a middlebox that lost one connection's state, or a
// peer that vanished behind a proxy that keeps the client's side open). Also a kubeconfig that
// reaches the testbed's API server through such a link.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/** A running link; `port` is where it listens on 127.0.0.1. */
export interface TcpLink {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  freeze(): void;
  /** Freezes the connections open now; connections made later pass. */
  freezeOpen(): void;
  /**
   * Freezes the link (as `freeze`) when a client sends a chunk `matches` accepts, that chunk held
   * back: a test catches a particular request in flight (one store command among many).
   */
  freezeOn(matches: (chunk: Buffer) => boolean): Promise<void>;
  thaw(): void;
  close(): Promise<void>;
}

/**
 * Forwards every connection to `target` until closed; listens on `port` when given (a test that
 * brings a dependency back where a client was already told to look), else on a free one.
 */
export async function startTcpLink(target: { host: string; port: number }, port = 0): Promise<TcpLink> {
  let frozen = false;
  let freezeWhen: { matches: (chunk: Buffer) => boolean; frozen: () => void } | undefined;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const frozenConnections = new WeakSet<Socket>();
  const forward = (from: Socket, to: Socket, client: Socket) => {
    const isFrozen = () => frozen || frozenConnections.has(client);
    // A frozen connection passes on no end or close either: the other side is left waiting.
    const pass = (deliver: () => void) => (isFrozen() ? held.push(deliver) : deliver());
    from.on("data", (chunk: Buffer) => {
      if (from === client && freezeWhen?.matches(chunk) === true) {
        frozen = true;
        freezeWhen.frozen();
        freezeWhen = undefined;
      }
      pass(() => to.write(chunk));
    });
    from.on("end", () => pass(() => to.end()));
    from.on("error", () => pass(() => to.destroy()));
    from.on("close", () => pass(() => to.destroy()));
  };
  let accepted = 0;
  const server = createServer((client) => {
    accepted += 1;
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    forward(client, upstream, client);
    forward(upstream, client, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the link has no TCP address");
  return {
    port: address.port,
    accepted: () => accepted,
    freeze: () => {
      frozen = true;
    },
    freezeOn: (matches) =>
      new Promise<void>((resolve) => {
        freezeWhen = { matches, frozen: resolve };
      }),
    freezeOpen: () => {
      for (const socket of sockets) frozenConnections.add(socket);
    },
    thaw: () => {
      frozen = false;
      for (const socket of sockets) frozenConnections.delete(socket);
      for (const deliver of held.splice(0)) deliver();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Forwards to the broker at `target`, rewriting in every answer the broker's advertised port to
 * `advertised()` (Kafka frames are length-prefixed; the port is a fixed int32 after the host, so the
 * rewrite changes no length). A link in front of it, which the proxy advertises, then carries every
 * connection of a Kafka client (without the rewrite a client bypasses the link after its first call).
 */
export async function startAdvertisingProxy(
  target: { host: string; port: number },
  advertised: () => number,
): Promise<{ port: number; close: () => Promise<void> }> {
  const host = Buffer.from(target.host);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const frame = Buffer.from(pending.subarray(0, 4 + pending.readInt32BE(0)));
        pending = pending.subarray(frame.length);
        for (let at = frame.indexOf(host); at >= 0; at = frame.indexOf(host, at + 1)) {
          const portAt = at + host.length;
          if (portAt + 4 <= frame.length && frame.readInt32BE(portAt) === target.port)
            frame.writeInt32BE(advertised(), portAt);
        }
        client.write(frame);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
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

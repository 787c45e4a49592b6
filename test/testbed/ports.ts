import { createServer, connect } from "node:net";

/**
 * Ports this process has handed out. The kernel offers a port it has just seen closed again now and
 * then (590 of 3,000 asks in a row here), and two components given one port fail to start (a
 * Kafka broker refused "two listeners on the same port"); so each port goes to one caller only.
 */
const handedOut = new Set<number>();

/** A free loopback port, never one this process was given before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await askKernel();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free loopback port this process was not given before, after 200 tries");
}

async function askKernel(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A free loopback port for a Redis Cluster node. Such a node also listens on its port + 10000 (the
 * cluster bus) and refuses to start above 55535, while the kernel hands out ports up to 60999: a
 * port from `freePort` alone left a node that never came up now and then.
 */
export async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    if (port <= 55_535 && (await canBind(port + 10_000))) return port;
  }
  throw new Error("no free loopback port with a free cluster bus port (port + 10000) after 200 tries");
}

async function canBind(port: number): Promise<boolean> {
  return new Promise((resolveBind) => {
    const server = createServer();
    server.unref();
    server.on("error", () => resolveBind(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveBind(true)));
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolveListening) => {
    const socket = connect({ port, host });
    const done = (result: boolean): void => {
      socket.destroy();
      resolveListening(result);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

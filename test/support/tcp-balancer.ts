/**
 * A TCP balancer for tests, as kube-proxy balances a Service: each new connection goes to the next
 * backend (round robin), and a backend can "vanish" the way a pod on a crashed node does.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

/** A per-connection round-robin TCP balancer; counts the bytes each backend answered. */
export interface Balancer {
  port: number;
  answeredBytes: number[];
  connections: number;
  /**
   * Backend `index` dies as a crashed node does: its open connections go silent (no FIN, no RST:
   * packets to a vanished pod are dropped) and new connections go to the others.
   */
  blackhole(index: number): void;
  /**
   * Backend `index` leaves the Service's endpoints (a demoted primary losing its role label): new
   * connections go to the others, open ones stay and keep being answered.
   */
  retire(index: number): void;
  /** Backend `index` is an endpoint again, for new connections. */
  restore(index: number): void;
  close(): Promise<void>;
}

export async function startBalancer(backendPorts: number[]): Promise<Balancer> {
  const sockets = new Set<Socket>();
  const dead = new Set<number>();
  const retired = new Set<number>();
  const silence: Array<Array<() => void>> = backendPorts.map(() => []);
  const balancer: Balancer = {
    port: 0,
    answeredBytes: backendPorts.map(() => 0),
    connections: 0,
    blackhole: (index) => {
      dead.add(index);
      for (const silenceOne of silence[index] ?? []) silenceOne();
    },
    retire: (index) => {
      retired.add(index);
    },
    restore: (index) => {
      retired.delete(index);
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((client) => {
    let index = balancer.connections++ % backendPorts.length;
    while (dead.has(index) || retired.has(index)) index = (index + 1) % backendPorts.length;
    const backend = connect(backendPorts[index] ?? 0, "127.0.0.1");
    sockets.add(client).add(backend);
    silence[index]?.push(() => {
      client.unpipe(backend);
      backend.unpipe(client);
      client.pause();
      backend.pause();
    });
    backend.on("data", (chunk: Buffer) => {
      balancer.answeredBytes[index] = (balancer.answeredBytes[index] ?? 0) + chunk.length;
    });
    client.pipe(backend).pipe(client);
    if (dead.has(index)) silence[index]?.at(-1)?.();
    const end = (): void => {
      client.destroy();
      backend.destroy();
    };
    client.on("error", end).on("close", end);
    backend.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  balancer.port = (server.address() as { port: number }).port;
  return balancer;
}

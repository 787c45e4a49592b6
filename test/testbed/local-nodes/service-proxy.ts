// kube-proxy for local pods (its original userspace mode): a TCP listener on each Service's
// ClusterIP:port that forwards every connection to one ready local endpoint, round robin. It never
// connects anywhere but loopback and this agent's own pod addresses.
import { createServer, connect, type Server, type Socket } from "node:net";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";

/** A backend chosen for one connection. */
export interface Backend {
  host: string;
  port: number;
}

/** Decides who may be connected to, and gives the API server's own address. */
export interface ProxyPolicy {
  /** True for a local pod address that is running, ready and not terminating. */
  servable(ip: string): boolean;
  /** The API server (target of the `kubernetes` Service). */
  apiServer: Backend;
}

/**
 * Ready, servable backends of one Service port, from its EndpointSlices. Pure. The `kubernetes`
 * Service goes to the API server on loopback.
 */
export function serviceBackends(
  service: V1Service,
  portName: string | undefined,
  slices: readonly V1EndpointSlice[],
  policy: ProxyPolicy,
): Backend[] {
  if (service.metadata?.namespace === "default" && service.metadata.name === "kubernetes")
    return [policy.apiServer];
  const backends: Backend[] = [];
  for (const slice of slices) {
    if (slice.metadata?.namespace !== service.metadata?.namespace) continue;
    if (slice.metadata?.labels?.["kubernetes.io/service-name"] !== service.metadata?.name) continue;
    const port = slice.ports?.find((candidate) => (candidate.name ?? "") === (portName ?? ""))?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false || endpoint.conditions?.terminating === true) continue;
      for (const host of endpoint.addresses) if (policy.servable(host)) backends.push({ host, port });
    }
  }
  return backends;
}

interface Listener {
  server: Server;
  service: V1Service;
  portName: string | undefined;
  next: number;
}

/** The set of Service listeners, reconciled against the Services and EndpointSlices. */
export class ServiceProxy {
  readonly #listeners = new Map<string, Listener>();

  readonly #serviceCidrContains: (ip: string) => boolean;
  readonly #slices: () => readonly V1EndpointSlice[];
  readonly #policy: ProxyPolicy;
  readonly #log: (message: string) => void;

  constructor(
    serviceCidrContains: (ip: string) => boolean,
    slices: () => readonly V1EndpointSlice[],
    policy: ProxyPolicy,
    log: (message: string) => void,
  ) {
    this.#serviceCidrContains = serviceCidrContains;
    this.#slices = slices;
    this.#policy = policy;
    this.#log = log;
  }

  /** Opens listeners for new Service ports and closes those of removed ones. */
  sync(services: readonly V1Service[]): void {
    const wanted = new Map<
      string,
      { service: V1Service; port: number; portName: string | undefined; ip: string }
    >();
    for (const service of services) {
      const ip = service.spec?.clusterIP;
      if (ip === undefined || ip === "None" || !this.#serviceCidrContains(ip)) continue;
      for (const port of service.spec?.ports ?? []) {
        if ((port.protocol ?? "TCP") !== "TCP") continue;
        wanted.set(`${ip}:${port.port}`, { service, port: port.port, portName: port.name, ip });
      }
    }
    for (const [key, listener] of this.#listeners) {
      if (!wanted.has(key)) {
        listener.server.close();
        this.#listeners.delete(key);
      }
    }
    for (const [key, want] of wanted) {
      const existing = this.#listeners.get(key);
      if (existing !== undefined) {
        existing.service = want.service;
        existing.portName = want.portName;
        continue;
      }
      const listener: Listener = {
        server: createServer(),
        service: want.service,
        portName: want.portName,
        next: 0,
      };
      listener.server.on("connection", (socket) => this.#forward(listener, socket));
      listener.server.on("error", (error) => this.#log(`service listener ${key}: ${error.message}`));
      listener.server.listen(want.port, want.ip);
      this.#listeners.set(key, listener);
    }
  }

  /** The ClusterIP:port listeners now open. */
  addresses(): string[] {
    return [...this.#listeners.keys()];
  }

  close(): void {
    for (const listener of this.#listeners.values()) listener.server.close();
    this.#listeners.clear();
  }

  #forward(listener: Listener, client: Socket): void {
    client.pause();
    client.on("error", () => client.destroy());
    const backends = serviceBackends(listener.service, listener.portName, this.#slices(), this.#policy);
    const attempt = (tries: number): void => {
      if (tries >= backends.length) {
        client.destroy();
        return;
      }
      const backend = backends[(listener.next += 1) % backends.length]!;
      const upstream = connect({ host: backend.host, port: backend.port });
      let connected = false;
      upstream.once("connect", () => {
        connected = true;
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      // A backend that refuses (it just stopped) is skipped, as the userspace proxy did.
      upstream.once("error", () => {
        if (!connected) attempt(tries + 1);
      });
    };
    attempt(0);
  }
}

/** Forwards <gateway>:<port> to 127.0.0.1:<port>, so pods reach the testbed's loopback components. */
export function loopbackForwarder(gateway: string, port: number, log: (message: string) => void): Server {
  const server = createServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  server.on("error", (error) => log(`loopback forwarder ${gateway}:${port}: ${error.message}`));
  server.listen(port, gateway);
  return server;
}

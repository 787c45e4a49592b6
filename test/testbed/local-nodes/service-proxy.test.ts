import { createServer, connect, type Server } from "node:net";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, isListening } from "../ports.ts";
import { waitFor } from "../wait.ts";
import { serviceBackends, ServiceProxy, type ProxyPolicy } from "./service-proxy.ts";

const service = {
  metadata: { namespace: "ns", name: "embedder" },
  spec: { clusterIP: "127.0.0.1", ports: [{ name: "grpc", port: 0 }] },
} as V1Service;
const slice = (endpoints: object[], port = 50051): V1EndpointSlice =>
  ({
    metadata: { namespace: "ns", name: "embedder-abc", labels: { "kubernetes.io/service-name": "embedder" } },
    addressType: "IPv4",
    ports: [{ name: "grpc", port }],
    endpoints,
  }) as V1EndpointSlice;
const policy = (servable: string[]): ProxyPolicy => ({
  servable: (ip) => servable.includes(ip),
  apiServer: { host: "127.0.0.1", port: 6443 },
});

describe("service backends", () => {
  it("keeps ready, non-terminating endpoints this agent serves", () => {
    const slices = [
      slice([
        { addresses: ["10.97.3.5"], conditions: { ready: true } },
        { addresses: ["10.97.3.6"], conditions: { ready: false } },
        { addresses: ["10.97.3.7"], conditions: { ready: true, terminating: true } },
        { addresses: ["10.1.0.9"], conditions: { ready: true } },
      ]),
    ];
    expect(serviceBackends(service, "grpc", slices, policy(["10.97.3.5", "10.97.3.6", "10.97.3.7"]))).toEqual(
      [{ host: "10.97.3.5", port: 50051 }],
    );
    expect(serviceBackends(service, "other-port", slices, policy(["10.97.3.5"]))).toEqual([]);
  });

  it("sends the kubernetes Service to the API server", () => {
    const kubernetes = { metadata: { namespace: "default", name: "kubernetes" } } as V1Service;
    expect(serviceBackends(kubernetes, "https", [], policy([]))).toEqual([{ host: "127.0.0.1", port: 6443 }]);
  });
});

describe("service proxy", () => {
  const servers: Server[] = [];
  let proxy: ServiceProxy | undefined;
  afterEach(() => {
    proxy?.close();
    for (const server of servers.splice(0)) server.close();
  });

  async function backend(reply: string): Promise<number> {
    const server = createServer((socket) => socket.end(reply));
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    return (server.address() as { port: number }).port;
  }

  async function call(port: number): Promise<string> {
    return new Promise((done) => {
      let text = "";
      const socket = connect({ host: "127.0.0.1", port });
      socket.on("data", (chunk) => (text += chunk.toString()));
      socket.on("close", () => done(text));
      socket.on("error", () => done(""));
    });
  }

  it("spreads connections over the ready endpoints and closes them when there is none", async () => {
    const portA = await backend("a");
    const portB = await backend("b");
    const endpoints = [{ addresses: ["127.0.0.1"], conditions: { ready: true } }];
    let slices = [
      slice(endpoints, portA),
      {
        ...slice(endpoints, portB),
        metadata: {
          namespace: "ns",
          name: "embedder-def",
          labels: { "kubernetes.io/service-name": "embedder" },
        },
      },
    ];
    const listenPort = await freePort();
    const proxied = {
      ...service,
      spec: { clusterIP: "127.0.0.1", ports: [{ name: "grpc", port: listenPort }] },
    } as V1Service;
    proxy = new ServiceProxy(
      () => true,
      () => slices,
      policy(["127.0.0.1"]),
      () => undefined,
    );
    proxy.sync([proxied]);
    await waitFor("the proxy listening", () => isListening(listenPort));
    const replies = [
      await call(listenPort),
      await call(listenPort),
      await call(listenPort),
      await call(listenPort),
    ];
    expect(new Set(replies)).toEqual(new Set(["a", "b"]));
    slices = [];
    expect(await call(listenPort)).toBe("");
    proxy.sync([]);
    expect(proxy.addresses()).toEqual([]);
  });
});

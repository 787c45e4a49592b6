import type { V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { serviceEnvironment } from "./service-env.ts";

const service = (namespace: string, name: string, clusterIP: string, ports: object[]): V1Service =>
  ({ metadata: { namespace, name }, spec: { clusterIP, ports } }) as V1Service;

const services = [
  service("default", "kubernetes", "10.96.3.1", [{ name: "https", port: 443 }]),
  service("ns", "jude-embedder", "10.96.3.20", [
    { name: "grpc", port: 50051 },
    { name: "http-metrics", port: 8080 },
  ]),
  service("ns", "headless", "None", [{ port: 1 }]),
  service("other", "elsewhere", "10.96.3.30", [{ port: 80 }]),
];

describe("service environment variables", () => {
  it("gives the kubernetes Service and the namespace's own Services, docker-links style", () => {
    const env = serviceEnvironment(services, "ns");
    expect(env).toMatchObject({
      KUBERNETES_SERVICE_HOST: "10.96.3.1",
      KUBERNETES_SERVICE_PORT: "443",
      KUBERNETES_SERVICE_PORT_HTTPS: "443",
      JUDE_EMBEDDER_SERVICE_HOST: "10.96.3.20",
      JUDE_EMBEDDER_SERVICE_PORT: "50051",
      JUDE_EMBEDDER_SERVICE_PORT_HTTP_METRICS: "8080",
      JUDE_EMBEDDER_PORT: "tcp://10.96.3.20:50051",
      JUDE_EMBEDDER_PORT_8080_TCP_ADDR: "10.96.3.20",
      JUDE_EMBEDDER_PORT_8080_TCP_PROTO: "tcp",
    });
    expect(Object.keys(env).some((key) => key.startsWith("HEADLESS") || key.startsWith("ELSEWHERE"))).toBe(
      false,
    );
  });

  it("keeps only the kubernetes Service when enableServiceLinks is false", () => {
    const env = serviceEnvironment(services, "ns", false);
    expect(Object.keys(env).every((key) => key.startsWith("KUBERNETES_"))).toBe(true);
    expect(env.KUBERNETES_SERVICE_HOST).toBe("10.96.3.1");
  });
});

import type { V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { podHostsFile, podResolvConf } from "./cluster-dns.ts";

const service = (namespace: string, name: string, clusterIP: string): V1Service =>
  ({ metadata: { namespace, name }, spec: { clusterIP } }) as V1Service;

describe("cluster DNS as /etc/hosts", () => {
  const hosts = podHostsFile(
    { name: "client-0", namespace: "ns", ip: "10.97.3.7" },
    [
      service("ns", "embedder", "10.96.3.20"),
      service("other", "store", "10.96.3.21"),
      service("ns", "peers", "None"),
    ],
    () => ["10.97.3.8", "10.97.3.9"],
  );

  it("maps every name form of a Service in the pod's namespace to its ClusterIP", () => {
    expect(hosts).toContain(
      "10.96.3.20\tembedder.ns.svc.cluster.local embedder.ns.svc embedder.ns embedder\n",
    );
  });

  it("gives Services of other namespaces only their qualified names", () => {
    expect(hosts).toContain("10.96.3.21\tstore.other.svc.cluster.local store.other.svc store.other\n");
    expect(hosts).not.toMatch(/ store\n/);
  });

  it("resolves headless Services to their ready pod addresses and names the pod itself", () => {
    expect(hosts).toContain("10.97.3.8\tpeers.ns.svc.cluster.local");
    expect(hosts).toContain("10.97.3.9\tpeers.ns.svc.cluster.local");
    expect(hosts).toContain("10.97.3.7\tclient-0\n");
    expect(hosts.startsWith("127.0.0.1\tlocalhost\n")).toBe(true);
  });

  it("points resolv.conf at the bridge address, where no name server answers", () => {
    expect(podResolvConf("10.97.3.1", "ns")).toBe(
      "nameserver 10.97.3.1\nsearch ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 attempts:1 timeout:1\n",
    );
  });
});

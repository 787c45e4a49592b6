import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";

describe("redis: standalone and a three-master cluster", () => {
  const clients: { quit(): Promise<unknown> }[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.quit()));
  });

  it("SETs and GETs on the standalone server", async () => {
    const redis = new Redis(requireEnv("JUDE_REDIS_URL"));
    clients.push(redis);
    await redis.set("testbed:smoke", "standalone-value");
    expect(await redis.get("testbed:smoke")).toBe("standalone-value");
  });

  it("SETs and GETs keys spread over every master of the cluster", async () => {
    const nodes = requireEnv("JUDE_REDIS_CLUSTER_NODES")
      .split(",")
      .map((hostPort) => {
        const [host, port] = hostPort.split(":");
        return { host: host!, port: Number(port) };
      });
    expect(nodes).toHaveLength(3);
    const cluster = new Cluster(nodes);
    clients.push(cluster);
    const keys = Array.from({ length: 30 }, (_, index) => `testbed:smoke:${index}`);
    for (const key of keys) await cluster.set(key, `value-of-${key}`);
    for (const key of keys) expect(await cluster.get(key)).toBe(`value-of-${key}`);
    // The keys landed on all three masters, so this really exercised the cluster.
    const owners = new Set(
      await Promise.all(keys.map(async (key) => (await cluster.cluster("KEYSLOT", key)) as number)),
    );
    const slots = await cluster.cluster("SLOTS");
    const mastersUsed = new Set(
      [...owners].map((slot) => slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1]),
    );
    expect(mastersUsed.size).toBe(3);
  });
});

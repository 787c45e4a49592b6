import { describe, expect, it } from "vitest";
import { ModelStores } from "../embedding-model/model-store.ts";
import { describeFailure } from "./reconcile-error.ts";
import { storeTarget, targetDatabase, targetEndpoint } from "./store-target.ts";

describe("storeTarget", () => {
  it("reads the Secret's value as a URL, or with cluster as the Cluster's seed nodes", () => {
    expect(storeTarget("redis://redis.data.svc:6379", false)).toEqual({ url: "redis://redis.data.svc:6379" });
    expect(storeTarget("redis-0.redis:6379, redis-1.redis:6379", true)).toEqual({
      clusterNodes: ["redis-0.redis:6379", "redis-1.redis:6379"],
    });
  });

  it.each([
    "redis://:hunter2@redis.data.svc:6379/0",
    "rediss://:hunter2@redis.data.svc:6379",
    "",
    "redis-0.redis",
  ])("refuses %j as a seed list, saying what the Secret must hold and never its password", (value) => {
    let refusal: unknown;
    try {
      storeTarget(value, true);
    } catch (error) {
      refusal = error;
    }
    const text = describeFailure(refusal);
    expect(text).toContain(
      "spec.sinks.store.cluster is true, so the store Secret must hold the Redis Cluster's seed nodes as host:port,host:port",
    );
    expect(text).not.toContain("hunter2");
  });

  it("names the endpoint without credentials", () => {
    expect(targetEndpoint({ clusterNodes: ["10.0.0.1:7000", "10.0.0.2:7000"] })).toBe(
      "Redis Cluster 10.0.0.1:7000,10.0.0.2:7000",
    );
    expect(targetEndpoint({ url: "redis://:hunter2@10.0.0.1:6379/0" })).toBe("redis://10.0.0.1:6379");
  });
});

describe("ModelStores.open of a Redis Cluster store", () => {
  it("refuses a Secret value that is not a seed list before connecting anywhere", async () => {
    const stores = new ModelStores();
    try {
      await expect(stores.open("redis://:hunter2@127.0.0.1:6379/0", "jobs", true)).rejects.toThrow(
        /spec\.sinks\.store\.cluster is true.*cluster node "\*\*\*@127\.0\.0\.1:6379\/0" has a path/,
      );
    } finally {
      stores.close();
    }
  });

  it("fails, naming the Cluster, when no seed node answers, instead of waiting for ever", async () => {
    // Port 1 on the loopback refuses at once: a Cluster all of whose nodes are down.
    const stores = new ModelStores();
    try {
      await expect(stores.open("127.0.0.1:1,127.0.0.1:2", "jobs", true)).rejects.toThrow(
        'store "jobs" at Redis Cluster 127.0.0.1:1,127.0.0.1:2 is unreachable',
      );
    } finally {
      stores.close();
    }
  });
});

describe("targetDatabase", () => {
  it("names the server and database number without credentials (0 when the URL names none)", () => {
    expect(targetDatabase({ url: "redis://:secret@redis.data.svc:6379" })).toBe(
      "redis://redis.data.svc:6379/0",
    );
    expect(targetDatabase({ url: "redis://redis.data.svc:6379/" })).toBe("redis://redis.data.svc:6379/0");
    expect(targetDatabase({ url: "rediss://user:pw@redis.data.svc:6380/3" })).toBe(
      "rediss://redis.data.svc:6380/3",
    );
    expect(targetDatabase({ clusterNodes: ["redis://:pw@redis-0:6379", "redis-1:6379"] })).toBe(
      "Redis Cluster ***@redis-0:6379,redis-1:6379",
    );
  });
});

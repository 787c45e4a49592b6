import { describe, expect, it } from "vitest";
import { sameStoreEndpoint, storeEndpoint } from "./store-endpoint.ts";

describe("storeEndpoint", () => {
  it.each([
    ["redis://redis:6379", "redis://redis:6379/0"],
    ["redis://user:secret@Redis.NS.svc", "redis://redis.ns.svc:6379/0"],
    ["rediss://:secret@redis:6380/2", "redis://redis:6380/2"],
    ["redis://redis:6379/0 ", "redis://redis:6379/0"],
  ])("%s is %s, without its credentials", (url, endpoint) => {
    expect(storeEndpoint(url)).toBe(endpoint);
  });

  it("tells databases of one server apart", () => {
    expect(storeEndpoint("redis://redis:6379/1")).not.toBe(storeEndpoint("redis://redis:6379"));
  });

  it.each(["not a url", "http://redis:6379"])("gives nothing for %s", (url) => {
    expect(storeEndpoint(url)).toBeUndefined();
  });

  it("reads a Cluster's seed list as the Cluster: hosts lowercased, sorted, without duplicates", () => {
    expect(storeEndpoint(" Redis-1.NS:6379 ,redis-0.ns:6379,redis-0.ns:06379", true)).toBe(
      "redis-cluster://redis-0.ns:6379,redis-1.ns:6379",
    );
  });

  it("leaves a password-protected Cluster's credentials out", () => {
    expect(storeEndpoint("redis://jude:S3cret@Redis-1:6379, redis-0:6379", true)).toBe(
      "redis-cluster://redis-0:6379,redis-1:6379",
    );
  });

  it.each(["", "redis://redis", "redis-0:6379,redis-1"])("gives nothing for the seed list %j", (list) => {
    expect(storeEndpoint(list, true)).toBeUndefined();
  });
});

describe("sameStoreEndpoint", () => {
  const cluster = (list: string) => storeEndpoint(list, true)!;

  it("counts two seed lists of one Cluster as one store whatever their order and spacing", () => {
    expect(sameStoreEndpoint(cluster("a:1,b:2,c:3"), cluster(" c:3 , A:1,b:2"))).toBe(true);
  });

  it("counts seed lists sharing any seed as one Cluster (seeds are any of its nodes)", () => {
    expect(sameStoreEndpoint(cluster("a:1,b:2"), cluster("b:2,c:3"))).toBe(true);
  });

  it("tells seed lists with no seed in common apart", () => {
    expect(sameStoreEndpoint(cluster("a:1,b:2"), cluster("c:3,d:4"))).toBe(false);
    expect(sameStoreEndpoint(cluster("a:1"), cluster("a:2"))).toBe(false);
  });

  it("tells a Cluster from a standalone Redis on one of its nodes", () => {
    expect(sameStoreEndpoint(cluster("a:6379"), storeEndpoint("redis://a:6379")!)).toBe(false);
  });

  it("compares redis:// endpoints as they are", () => {
    expect(sameStoreEndpoint(storeEndpoint("redis://A:6379")!, storeEndpoint("redis://a")!)).toBe(true);
    expect(sameStoreEndpoint(storeEndpoint("redis://a/1")!, storeEndpoint("redis://a")!)).toBe(false);
  });
});

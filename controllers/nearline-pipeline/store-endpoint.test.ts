import { describe, expect, it } from "vitest";
import { storeEndpoint } from "./store-endpoint.ts";

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
});

import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { jobStore, storeAnnotations, storeLeft } from "./run-store.ts";

const jobWith = (annotations?: Record<string, string>): KubeObject => ({
  kind: "Job",
  metadata: { name: "j", ...(annotations !== undefined ? { annotations } : {}) },
});
const recorded = (name: string, endpoint?: string) => jobWith(storeAnnotations({ name, endpoint }));

describe("the store a bootstrap Job writes to", () => {
  it("is read back as recorded", () => {
    expect(jobStore(recorded("a", "redis://r:6379/0"))).toEqual({ name: "a", endpoint: "redis://r:6379/0" });
    expect(jobStore(recorded("a"))).toEqual({ name: "a" });
  });

  it("was left when the pipeline names another store, or the same name elsewhere", () => {
    const job = recorded("a", "redis://r:6379/0");
    expect(storeLeft(job, { name: "b", endpoint: "redis://r:6379/0" })).toEqual(jobStore(job));
    expect(storeLeft(job, { name: "a", endpoint: "redis://s:6379/0" })).toEqual(jobStore(job));
    expect(storeLeft(job, { name: "a", endpoint: "redis://r:6379/0" })).toBeUndefined();
  });

  it("was left for another Redis Cluster, not for the same seeds in another order", () => {
    const job = recorded("a", "redis-cluster://r0:6379,r1:6379");
    expect(storeLeft(job, { name: "a", endpoint: "redis-cluster://r0:6379,r1:6379" })).toBeUndefined();
    expect(storeLeft(job, { name: "a", endpoint: "redis-cluster://r1:6379,r2:6379" })).toBeUndefined();
    expect(storeLeft(job, { name: "a", endpoint: "redis-cluster://s0:6379,s1:6379" })).toEqual(jobStore(job));
    expect(storeLeft(job, { name: "a", endpoint: "redis://r0:6379/0" })).toEqual(jobStore(job));
  });

  it("is no evidence of a move where it cannot be told", () => {
    // A Job an older operator made records nothing.
    expect(storeLeft(jobWith(), { name: "b" })).toBeUndefined();
    expect(storeLeft(jobWith({ other: "x" }), { name: "b" })).toBeUndefined();
    // An endpoint unknown on either side: the names alone decide.
    expect(storeLeft(recorded("a"), { name: "a", endpoint: "redis://s:6379/0" })).toBeUndefined();
    expect(storeLeft(recorded("a", "redis://r:6379/0"), { name: "a" })).toBeUndefined();
    expect(storeLeft(recorded("a"), { name: "b" })).toEqual({ name: "a" });
  });
});

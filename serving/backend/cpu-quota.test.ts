import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { coresFromCpuMax, usableCores } from "./cpu-quota.ts";

describe("coresFromCpuMax", () => {
  it("reads whole cores from a quota, rounding down but never below one", () => {
    expect(coresFromCpuMax("200000 100000\n")).toBe(2);
    expect(coresFromCpuMax("150000 100000")).toBe(1);
    expect(coresFromCpuMax("50000 100000")).toBe(1);
    expect(coresFromCpuMax("800000 200000")).toBe(4);
  });

  it("treats max and nonsense as no limit", () => {
    expect(coresFromCpuMax("max 100000")).toBeUndefined();
    expect(coresFromCpuMax("")).toBeUndefined();
    expect(coresFromCpuMax("abc 100000")).toBeUndefined();
  });
});

describe("usableCores", () => {
  it("caps the scheduler's cores at a cgroup v2 limit", () => {
    const root = mkdtempSync(join(tmpdir(), "cgroup-v2-"));
    writeFileSync(join(root, "cpu.max"), "100000 100000\n");
    expect(usableCores(root)).toBe(1);
  });

  it("reads cgroup v1's quota and period, where -1 means no limit", () => {
    const root = mkdtempSync(join(tmpdir(), "cgroup-v1-"));
    mkdirSync(join(root, "cpu"));
    writeFileSync(join(root, "cpu", "cpu.cfs_period_us"), "100000\n");
    writeFileSync(join(root, "cpu", "cpu.cfs_quota_us"), "100000\n");
    expect(usableCores(root)).toBe(1);
    writeFileSync(join(root, "cpu", "cpu.cfs_quota_us"), "-1\n");
    expect(usableCores(root)).toBe(availableParallelism());
  });

  it("uses the scheduler's cores without a cgroup", () => {
    expect(usableCores(mkdtempSync(join(tmpdir(), "no-cgroup-")))).toBe(availableParallelism());
  });
});

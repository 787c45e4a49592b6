import { describe, expect, it } from "vitest";
import { groupRssBytes, parseStat } from "./memory-limit.ts";
import { toBytes } from "./volumes.ts";

describe("memory limits", () => {
  it("reads the process group and resident size from /proc/<pid>/stat, names with spaces included", () => {
    const line =
      "4242 (node (worker) x) S 1 4200 4200 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 11 0 123 1000000 2560 18446744073709551615";
    expect(parseStat(line)).toEqual({ pgrp: 4200, rssBytes: 2560 * 4096 });
  });

  it("sums this test process's own group to something real", () => {
    const own = parseStat(`${process.pid} (x) S 1 ${process.pid} 0`);
    expect(own.pgrp).toBe(process.pid);
    expect(groupRssBytes(Number.NaN)).toBe(0);
  });

  it("reads Kubernetes memory quantities", () => {
    expect(toBytes("256Mi")).toBe(268_435_456);
    expect(toBytes("1G")).toBe(1e9);
    expect(toBytes("1024")).toBe(1024);
    expect(() => toBytes("lots")).toThrow('cannot read the quantity "lots"');
  });
});

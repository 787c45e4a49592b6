/**
 * Small helpers shared by benchmarks: order statistics and a description of the machine, so every
 * figure is reported with the hardware and load it was measured under.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";

/** The median (lower middle for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

/** The p-quantile by nearest rank on sorted values (p in [0, 1]). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) * p)] ?? 0;
}

/** Rounds for reports: 3 significant decimals are more than the noise allows. */
export function round(value: number, decimals = 3): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** The machine a benchmark ran on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  flags: string[];
  memory_gib: number;
  node: string;
  /** 1-minute load average when the description was taken: a busy machine makes figures low. */
  load_average_1m: number;
}

/** Describes the machine (CPU model, cores, the SIMD flags that decide inference speed, load). */
export function machineInfo(): MachineInfo {
  const wanted = [
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "neon",
    "asimd",
  ];
  let flags: string[] = [];
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("flags") || entry.startsWith("Features"));
    flags = (line?.split(":")[1]?.trim().split(/\s+/) ?? []).filter((flag) => wanted.includes(flag));
  } catch {
    // Not Linux: the CPU model alone has to do.
  }
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    flags,
    memory_gib: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    load_average_1m: round(loadavg()[0] ?? 0, 2),
  };
}

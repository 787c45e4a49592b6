// Memory limits without cgroups (this machine's cgroup v1 tree is not ours to change): the agent
// sums the resident memory of a container's process group and kills it like the OOM killer when it
// passes `resources.limits.memory`, so the container ends with reason OOMKilled and exit code 137.
import { readdirSync, readFileSync } from "node:fs";
import { signalContainer } from "./container-launch.ts";
import type { ContainerRun } from "./container-run.ts";
import { toBytes } from "./volumes.ts";

const pageBytes = 4096;

/** Process group and resident set size (bytes) from one /proc/<pid>/stat line. */
export function parseStat(line: string): { pgrp: number; rssBytes: number } {
  // The command name (field 2) may contain spaces and parentheses; fields restart after the last ')'.
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return { pgrp: Number(fields[2]), rssBytes: Number(fields[21]) * pageBytes };
}

/** Resident memory of every process in process group `pgid`. */
export function groupRssBytes(pgid: number): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, "utf8"));
      if (stat.pgrp === pgid) total += stat.rssBytes;
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

/** Kills every running container over its memory limit (SIGKILL, reason OOMKilled). */
export function enforceMemoryLimits(runs: readonly ContainerRun[]): void {
  for (const run of runs) {
    const limit = run.spec.resources?.limits?.memory;
    if (run.pid === undefined || limit === undefined || run.killReason === "OOMKilled") continue;
    if (groupRssBytes(run.pid) > toBytes(String(limit))) {
      run.killReason = "OOMKilled";
      signalContainer(run.pid, "SIGKILL");
    }
  }
}

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/**
 * CPU cores this process may use: the cores the scheduler lets it run on, capped by a cgroup CPU
 * limit. A container limited to 2 CPUs on a 64-core node sees 64 cores in `availableParallelism()`;
 * sizing inference workers and ONNX Runtime threads from that would oversubscribe the quota, and
 * the kernel would throttle every thread of a batch at once. Reads cgroup v2 `cpu.max`, else v1's
 * `cpu.cfs_quota_us`; a limit rounds down (at least 1), as Go's automaxprocs does.
 */
export function usableCores(root = "/sys/fs/cgroup"): number {
  const cores = availableParallelism();
  const limit = cgroupCpuLimit(root);
  return limit === undefined ? cores : Math.min(cores, limit);
}

function cgroupCpuLimit(root: string): number | undefined {
  const v2 = readOptional(`${root}/cpu.max`);
  if (v2 !== undefined) return coresFromCpuMax(v2);
  const quota = readOptional(`${root}/cpu/cpu.cfs_quota_us`);
  const period = readOptional(`${root}/cpu/cpu.cfs_period_us`);
  if (quota === undefined || period === undefined) return undefined;
  return coresFromCpuMax(`${quota.trim() === "-1" ? "max" : quota.trim()} ${period.trim()}`);
}

/** Whole cores of a cgroup v2 `cpu.max` ("<quota> <period>" or "max <period>"); undefined: no limit. */
export function coresFromCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === "max") return undefined;
  const cores = Number(quota) / Number(period ?? 100_000);
  if (!Number.isFinite(cores) || cores <= 0) return undefined;
  return Math.max(1, Math.floor(cores));
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

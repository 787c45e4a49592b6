// A BootstrapRun's progress from its shards' checkpoints (pipelines/bootstrap/checkpoint-codec.ts):
// counts summed over shards, percent over every shard's source range together, and an ETA from the
// rate so far. A shard without a checkpoint has not started: its range, and so the total, is unknown,
// and it counts as an average-sized shard with nothing done.
import type { BootstrapRunStatus } from "../../crds/index.ts";
import {
  percentDone,
  totalRecords,
  type CheckpointState,
  type UnitPosition,
} from "../../pipelines/bootstrap/checkpoint-codec.ts";

/** Progress of a run, as its status carries it, plus what the ETA needs. */
export interface RunProgress {
  progress: NonNullable<BootstrapRunStatus["progress"]>;
  /** Every shard has finished its range. */
  allDone: boolean;
  /** Shards that have no checkpoint (not started, or expired). */
  missingShards: number[];
}

/** Sums the shards' checkpoints (index -> state or null) into the run's progress. */
export function runProgress(
  checkpoints: readonly (CheckpointState | null)[],
  source: "kafka" | "files",
): RunProgress {
  const present = checkpoints.filter((state): state is CheckpointState => state !== null);
  const missingShards = checkpoints.flatMap((state, index) => (state === null ? [index] : []));
  const sum = (key: "processed" | "embedded" | "deduplicated" | "failed") =>
    present.reduce((total, state) => total + state.counts[key], 0);
  const allDone = missingShards.length === 0 && present.every((state) => state.phase === "done");
  // All shards' units as one range, so the percent weighs shards by their size.
  const units: Record<string, UnitPosition> = {};
  present.forEach((state, shard) => {
    for (const [unit, position] of Object.entries(state.units)) units[`${shard}/${unit}`] = position;
  });
  const startedDone = present.every((state) => state.phase === "done");
  const startedPercent =
    present.length === 0 ? 0 : percentDone({ units, phase: startedDone ? "done" : "running" });
  // A shard without a checkpoint has not started (e.g. its pod waits for a node): its range is unknown,
  // so it weighs as much as an average started shard, none of it done. Leaving it out would show a run
  // whose one started shard finished as 99% done, with an ETA of seconds.
  const percent = Math.floor((startedPercent * present.length) / checkpoints.length);
  const totals = present.map((state) => totalRecords(state, source));
  const total =
    missingShards.length === 0 && totals.every((value) => value !== undefined)
      ? totals.reduce((all: number, value) => all + value!, 0)
      : undefined;
  return {
    allDone,
    missingShards,
    progress: {
      ...(total !== undefined ? { total } : {}),
      processed: sum("processed"),
      embedded: sum("embedded"),
      deduplicated: sum("deduplicated"),
      failed: sum("failed"),
      percent: missingShards.length > 0 ? Math.min(percent, 99) : percent,
    },
  };
}

/**
 * Time left at the rate so far, in milliseconds, or undefined before any progress. Linear in the
 * percent done since the run started; good enough to tell minutes from hours.
 */
export function etaMs(percent: number, startedAtMs: number, nowMs: number): number | undefined {
  if (percent <= 0 || percent >= 100 || nowMs <= startedAtMs) return undefined;
  return Math.round(((nowMs - startedAtMs) * (100 - percent)) / percent);
}

/** A duration as people read it: 45s, 3m 20s, 2h 5m. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

// jude_bootstrap_failed{namespace, name, version}: 1 while a BootstrapRun is Failed and no later run of
// its pipeline and version has Succeeded, 0 otherwise; the chart's JudeBootstrapFailed alert reads it.
// A failed run is immutable and stays until someone deletes it: once a new run made the version whole,
// the old failure is history, not something to page about. A deleted run's series is removed.
import { Gauge, type Registry } from "prom-client";
import type { BootstrapRun } from "../../crds/index.ts";
import type { CheckpointState } from "../../pipelines/bootstrap/checkpoint-codec.ts";
import type { ObjectKey } from "../../operator/runtime/types.ts";
import { createdMs } from "./run-created.ts";

const byRegistry = new WeakMap<Registry, Gauge<"namespace" | "name" | "version">>();

/** The gauge on `registry` (created once per registry). */
export function bootstrapFailedGauge(registry: Registry): Gauge<"namespace" | "name" | "version"> {
  let gauge = byRegistry.get(registry);
  if (gauge === undefined) {
    gauge = new Gauge({
      name: "jude_bootstrap_failed",
      help: "1 while a BootstrapRun is Failed (its Stalled/Failed condition says why) and no run of its pipeline and version created after it has Succeeded, 0 otherwise.",
      labelNames: ["namespace", "name", "version"],
      registers: [registry],
    });
    byRegistry.set(registry, gauge);
  }
  return gauge;
}

/** Records the run's phase; `version` undefined removes the run's series (deleted run). */
export async function recordRunFailed(
  gauge: Gauge<"namespace" | "name" | "version">,
  key: ObjectKey,
  version: string | undefined,
  failed: boolean,
): Promise<void> {
  for (const { labels } of (await gauge.get()).values)
    if (labels.namespace === key.namespace && labels.name === key.name && labels.version !== version)
      gauge.remove(labels as Record<string, string>);
  if (version !== undefined) gauge.set({ namespace: key.namespace, name: key.name, version }, failed ? 1 : 0);
}

/** Whether a run of the same pipeline and version, created after `run`, has Succeeded. */
export function supersededBySuccess(run: BootstrapRun, runs: readonly BootstrapRun[]): boolean {
  const created = createdMs(run);
  return runs.some(
    (other) =>
      other.metadata.name !== run.metadata.name &&
      other.spec.pipelineRef.name === run.spec.pipelineRef.name &&
      other.spec.modelVersion === run.spec.modelVersion &&
      other.status?.phase === "Succeeded" &&
      createdMs(other) > created,
  );
}

/**
 * Records every run of a namespace (`runs`, from the cache; `current` replaces the cached copy of the
 * run being reconciled, whose phase may be newer): failed unless superseded by a later success. A
 * run's success thus clears its predecessors' series without their own reconcile.
 */
export async function recordNamespaceRuns(
  gauge: Gauge<"namespace" | "name" | "version">,
  runs: readonly BootstrapRun[],
  current?: BootstrapRun,
): Promise<void> {
  const all =
    current === undefined
      ? runs
      : [...runs.filter((run) => run.metadata.name !== current.metadata.name), current];
  for (const run of all)
    await recordRunFailed(
      gauge,
      { namespace: run.metadata.namespace ?? "", name: run.metadata.name },
      run.spec.modelVersion,
      run.status?.phase === "Failed" && !supersededBySuccess(run, all),
    );
}

// What the shards' checkpoints say that an operator must be able to alert on, since the shards open no
// port for Prometheus to scrape:
// - jude_bootstrap_dead_letters{namespace, name, version, code}: records the run did not write, by the
//   code each was logged with (EMBEDDING_FAILED, NO_FIELDS, a decode code, ...; UNKNOWN for shards of
//   older images, whose checkpoints keep only the total), summed over its shards. Only grows while
//   the run lasts; kept at its last value once the run finished, until the run is deleted.
// - jude_bootstrap_waiting_since_seconds{namespace, name, version, dependency}: Unix time since which
//   the longest-waiting shard's batch has been retried on that dependency (the embedding server failing
//   every call, unavailable or overloaded); no series while no shard waits.
// One series per run and code or dependency, never per text or shard; a deleted run's are removed.
type RunLabels = "namespace" | "name" | "version";

/** The gauges fed from a run's checkpoints. */
export interface ShardGauges {
  deadLetters: Gauge<RunLabels | "code">;
  waitingSince: Gauge<RunLabels | "dependency">;
}

const shardGaugesByRegistry = new WeakMap<Registry, ShardGauges>();

/** The gauges on `registry` (created once per registry). */
export function bootstrapShardGauges(registry: Registry): ShardGauges {
  let gauges = shardGaugesByRegistry.get(registry);
  if (gauges === undefined) {
    gauges = {
      deadLetters: new Gauge({
        name: "jude_bootstrap_dead_letters",
        help: 'Records a BootstrapRun did not write (logged by its shards as "record not written"), by code, summed over its shards\' checkpoints.',
        labelNames: ["namespace", "name", "version", "code"],
        registers: [registry],
      }),
      waitingSince: new Gauge({
        name: "jude_bootstrap_waiting_since_seconds",
        help: "Unix time since which a running shard of the BootstrapRun has been retrying a batch on this dependency (the earliest over its shards); no series while none waits.",
        labelNames: ["namespace", "name", "version", "dependency"],
        registers: [registry],
      }),
    };
    shardGaugesByRegistry.set(registry, gauges);
  }
  return gauges;
}

/** A run's figures from its shards' checkpoints. */
export interface RunShardFigures {
  /** Code -> records not written. */
  deadLetters: Record<string, number>;
  /** Dependency -> earliest `sinceMs` of a running shard waiting on it. */
  waitingSinceMs: Record<string, number>;
}

/** Sums the shards' checkpoints (index -> state or null) into the run's figures. */
export function shardFigures(checkpoints: readonly (CheckpointState | null)[]): RunShardFigures {
  const deadLetters: Record<string, number> = {};
  const waitingSinceMs: Record<string, number> = {};
  for (const state of checkpoints) {
    if (state === null) continue;
    let coded = 0;
    for (const [code, count] of Object.entries(state.failedCodes ?? {})) {
      deadLetters[code] = (deadLetters[code] ?? 0) + count;
      coded += count;
    }
    if (state.counts.failed > coded)
      deadLetters.UNKNOWN = (deadLetters.UNKNOWN ?? 0) + state.counts.failed - coded;
    const waiting = state.phase === "running" ? state.waiting : undefined;
    if (waiting !== undefined)
      waitingSinceMs[waiting.dependency] = Math.min(
        waitingSinceMs[waiting.dependency] ?? Infinity,
        waiting.sinceMs,
      );
  }
  return { deadLetters, waitingSinceMs };
}

/**
 * Records a run's figures; a figure left undefined keeps its series as they are (checkpoints that could
 * not be read). `version` undefined removes every series of the run (deleted run).
 */
export async function recordRunShards(
  gauges: ShardGauges,
  key: ObjectKey,
  version: string | undefined,
  figures: Partial<RunShardFigures>,
): Promise<void> {
  const prune = async <L extends string>(
    gauge: Gauge<L>,
    keep: (labels: Partial<Record<string, string | number>>) => boolean,
  ): Promise<void> => {
    for (const { labels } of (await gauge.get()).values) {
      const all = labels as Partial<Record<string, string | number>>;
      if (all.namespace === key.namespace && all.name === key.name && !keep(all)) gauge.remove(labels);
    }
  };
  const { deadLetters, waitingSinceMs } = figures;
  if (version === undefined || deadLetters !== undefined)
    await prune(
      gauges.deadLetters,
      (labels) => labels.version === version && String(labels.code) in (deadLetters ?? {}),
    );
  if (version === undefined || waitingSinceMs !== undefined)
    await prune(
      gauges.waitingSince,
      (labels) => labels.version === version && String(labels.dependency) in (waitingSinceMs ?? {}),
    );
  if (version === undefined) return;
  const run = { namespace: key.namespace, name: key.name, version };
  for (const [code, count] of Object.entries(deadLetters ?? {}))
    gauges.deadLetters.set({ ...run, code }, count);
  for (const [dependency, sinceMs] of Object.entries(waitingSinceMs ?? {}))
    gauges.waitingSince.set({ ...run, dependency }, sinceMs / 1000);
}

// jude_bootstrap_failed{namespace, name, version}: 1 while a BootstrapRun is Failed and no later run of
// its pipeline and version has Succeeded, 0 otherwise; the chart's JudeBootstrapFailed alert reads it.
// A failed run is immutable and stays until someone deletes it: once a new run made the version whole,
// the old failure is history, not something to page about. A deleted run's series is removed.
import { Gauge, type Registry } from "prom-client";
import type { BootstrapRun } from "../../crds/index.ts";
import type { ObjectKey } from "../../operator/runtime/types.ts";

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

function createdMs(run: BootstrapRun): number {
  const created: unknown = run.metadata.creationTimestamp;
  return created instanceof Date ? created.getTime() : Date.parse(String(created ?? ""));
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

// jude_nearline_workers_desired / jude_nearline_workers_ready{namespace, pipeline, version}: per live
// version of a NearlinePipeline, the workers it asks for and those ready, from the operator. The
// workers' own series (jude_pipeline_*) vanish when every worker is down, so an alert on them stays
// silent exactly then; the chart's JudeNearlineWorkersDown reads these instead.
// jude_nearline_workers_not_progressing{namespace, pipeline, version}: 1 while some workers of the
// version have not become ready within their Deployment's progress deadline (the pipeline is Stalled,
// reason ProgressDeadlineExceeded), for the chart's JudeNearlineWorkersNotProgressing: a version with
// some workers ready, or one rolling out beside its old ready workers, is not "down". A version no
// longer live, a stalled or deleted pipeline loses its series.
import { Gauge, type Registry } from "prom-client";

type Labels = "namespace" | "pipeline" | "version";

/** The gauges of one registry. */
export interface WorkerGauges {
  desired: Gauge<Labels>;
  ready: Gauge<Labels>;
  notProgressing: Gauge<Labels>;
}

const byRegistry = new WeakMap<Registry, WorkerGauges>();

/** The gauges on `registry` (created once per registry). */
export function workerGauges(registry: Registry): WorkerGauges {
  let gauges = byRegistry.get(registry);
  if (gauges === undefined) {
    const labelNames = ["namespace", "pipeline", "version"] as const;
    gauges = {
      desired: new Gauge({
        name: "jude_nearline_workers_desired",
        help: "Workers a NearlinePipeline asks for per live embedding version (spec.workers.replicas).",
        labelNames,
        registers: [registry],
      }),
      ready: new Gauge({
        name: "jude_nearline_workers_ready",
        help: "Ready workers (their /readyz answers: consuming) per live embedding version of a NearlinePipeline.",
        labelNames,
        registers: [registry],
      }),
      notProgressing: new Gauge({
        name: "jude_nearline_workers_not_progressing",
        help: "1 while workers of a live embedding version of a NearlinePipeline have not become ready within their Deployment's progress deadline.",
        labelNames,
        registers: [registry],
      }),
    };
    byRegistry.set(registry, gauges);
  }
  return gauges;
}

/** Records a pipeline's live versions; its versions not listed (all, for `[]`) lose their series. */
export async function recordWorkers(
  gauges: WorkerGauges,
  pipeline: { namespace: string; name: string },
  versions: ReadonlyArray<{ version: string; desired: number; ready: number; notProgressing?: boolean }>,
): Promise<void> {
  const live = new Set(versions.map((entry) => entry.version));
  for (const gauge of [gauges.desired, gauges.ready, gauges.notProgressing])
    for (const { labels } of (await gauge.get()).values)
      if (
        labels.namespace === pipeline.namespace &&
        labels.pipeline === pipeline.name &&
        !live.has(String(labels.version))
      )
        gauge.remove(labels as Record<Labels, string>);
  for (const entry of versions) {
    const labels = { namespace: pipeline.namespace, pipeline: pipeline.name, version: entry.version };
    gauges.desired.set(labels, entry.desired);
    gauges.ready.set(labels, entry.ready);
    gauges.notProgressing.set(labels, entry.notProgressing === true ? 1 : 0);
  }
}

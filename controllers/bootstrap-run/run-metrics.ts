// jude_bootstrap_failed{namespace, name, version}: 1 while a BootstrapRun is Failed, 0 otherwise; the
// chart's JudeBootstrapFailed alert reads it. A deleted run's series is removed.
import { Gauge, type Registry } from "prom-client";
import type { ObjectKey } from "../../operator/runtime/types.ts";

const byRegistry = new WeakMap<Registry, Gauge<"namespace" | "name" | "version">>();

/** The gauge on `registry` (created once per registry). */
export function bootstrapFailedGauge(registry: Registry): Gauge<"namespace" | "name" | "version"> {
  let gauge = byRegistry.get(registry);
  if (gauge === undefined) {
    gauge = new Gauge({
      name: "jude_bootstrap_failed",
      help: "1 while a BootstrapRun is Failed (its Stalled/Failed condition says why), 0 otherwise.",
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

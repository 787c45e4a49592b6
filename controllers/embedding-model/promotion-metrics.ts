// The promotion's Prometheus metrics, registered on the operator's registry: the phase of every
// version, each gate's measured value, the last cutover's flip time, and jude_promotion_stalled, which
// the chart's JudePromotionStalled alert reads by (namespace, model, version).
import type { Registry } from "prom-client";
import { Gauge, Histogram } from "prom-client";
import type { VersionPhase } from "../../crds/index.ts";
import type { Gate } from "./promotion-gates.ts";

/** The promotion metrics of one registry. */
export interface PromotionMetrics {
  phase: Gauge<"namespace" | "model" | "version" | "phase">;
  gate: Gauge<"namespace" | "model" | "version" | "gate">;
  gateOpen: Gauge<"namespace" | "model" | "version" | "gate">;
  stalled: Gauge<"namespace" | "model" | "version">;
  storeDataLost: Gauge<"namespace" | "model" | "version">;
  cutoverSeconds: Histogram<"namespace" | "model" | "kind">;
}

const byRegistry = new WeakMap<Registry, PromotionMetrics>();

/** The metrics on `registry` (created once per registry). */
export function promotionMetrics(registry: Registry): PromotionMetrics {
  let metrics = byRegistry.get(registry);
  if (metrics !== undefined) return metrics;
  const registers = [registry];
  metrics = {
    phase: new Gauge({
      name: "jude_promotion_phase",
      help: "1 for the phase each embedding version of a model is in (Deploying ... Active, Draining, Retained, Failed).",
      labelNames: ["namespace", "model", "version", "phase"],
      registers,
    }),
    gate: new Gauge({
      name: "jude_promotion_gate_value",
      help: "The measured value of a promotion gate: ready replicas, bootstrap fraction, lag in records, coverage ratio, parity minimum cosine.",
      labelNames: ["namespace", "model", "version", "gate"],
      registers,
    }),
    gateOpen: new Gauge({
      name: "jude_promotion_gate_open",
      help: "1 when the promotion gate passes, 0 when it is shut or failed.",
      labelNames: ["namespace", "model", "version", "gate"],
      registers,
    }),
    stalled: new Gauge({
      name: "jude_promotion_stalled",
      help: "1 while the promotion of a model to a version is Stalled (the active version keeps serving).",
      labelNames: ["namespace", "model", "version"],
      registers,
    }),
    storeDataLost: new Gauge({
      name: "jude_promotion_store_data_lost",
      help: "1 while the store has lost the model's active version (pointer, registry entry and vectors gone: readers have no vectors) until it is rebuilt or a candidate replaces it; version is the lost one.",
      labelNames: ["namespace", "model", "version"],
      registers,
    }),
    cutoverSeconds: new Histogram({
      name: "jude_promotion_cutover_seconds",
      help: "Time of the atomic store pointer flip (or rollback) at cutover.",
      labelNames: ["namespace", "model", "kind"],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers,
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}

/** Records one reconcile's view of a model; versions no longer listed lose their series. */
export async function recordPromotion(
  metrics: PromotionMetrics,
  model: { namespace: string; name: string },
  view: {
    specVersion: string;
    phases: Readonly<Record<string, VersionPhase>>;
    gates: readonly Gate[];
    stalled: boolean;
    /** The active version the store lost, while readers have no vectors. */
    storeDataLost?: string | undefined;
  },
): Promise<void> {
  const base = { namespace: model.namespace, model: model.name };
  await removeModelSeries(metrics, base);
  for (const [version, phase] of Object.entries(view.phases))
    metrics.phase.set({ ...base, version, phase }, 1);
  for (const gate of view.gates) {
    const labels = { ...base, version: view.specVersion, gate: gate.type };
    metrics.gateOpen.set(labels, gate.state === "Open" ? 1 : 0);
    if (gate.value !== undefined) metrics.gate.set(labels, gate.value);
  }
  metrics.stalled.set({ ...base, version: view.specVersion }, view.stalled ? 1 : 0);
  metrics.storeDataLost.set(
    { ...base, version: view.storeDataLost ?? view.specVersion },
    view.storeDataLost !== undefined ? 1 : 0,
  );
}

/**
 * Drops every series of a deleted model: left behind, a model deleted while Stalled would keep
 * JudePromotionStalled firing (and its phases on the dashboard) until the operator restarts.
 */
export async function forgetModel(
  metrics: PromotionMetrics,
  model: { namespace: string; name: string },
): Promise<void> {
  await removeModelSeries(metrics, { namespace: model.namespace, model: model.name });
  for (const { labels } of (await metrics.cutoverSeconds.get()).values)
    if (labels.namespace === model.namespace && labels.model === model.name && labels.kind !== undefined)
      metrics.cutoverSeconds.remove({
        namespace: model.namespace,
        model: model.name,
        kind: String(labels.kind),
      });
}

/** Drops every series of a model (its versions change; stale ones would keep alerting). */
async function removeModelSeries(
  metrics: PromotionMetrics,
  base: { namespace: string; model: string },
): Promise<void> {
  for (const gauge of [
    metrics.phase,
    metrics.gate,
    metrics.gateOpen,
    metrics.stalled,
    metrics.storeDataLost,
  ] as Gauge<string>[]) {
    for (const { labels } of (await gauge.get()).values)
      if (labels.namespace === base.namespace && labels.model === base.model)
        gauge.remove(labels as Record<string, string>);
  }
}

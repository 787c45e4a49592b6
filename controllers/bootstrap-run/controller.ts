// The BootstrapRun controller as the operator registers it: reconciles runs, owns their Jobs and
// ConfigMaps, and is woken when the pipeline a run names appears or changes.
import type { BootstrapRun } from "../../crds/index.ts";
import type { ControllerSettings } from "../../operator/controllers.ts";
import { keyOf } from "../../operator/runtime/object-key.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import { topicNotFoundReason } from "../embedding-model/blockers.ts";
import { labelKeys } from "../shared/labels.ts";
import { labelValue } from "../shared/names.ts";
import { reportNotSynced, reportReconcileError } from "../shared/reconcile-error.ts";
import type { CacheReader, ControllerDefinition, KubeObject } from "../../operator/runtime/types.ts";
import { reconcileBootstrapRun } from "./reconcile.ts";
import { ReplacedJobs } from "./run-store.ts";
import { isFinished } from "./run-status.ts";
import { bootstrapFailedGauge, bootstrapShardGauges } from "./run-metrics.ts";

/** Reasons a run waits for with a Warning Event told once (reportReconcileError's standing reasons). */
const waitingReasons: ReadonlySet<string> = new Set([topicNotFoundReason]);

/** The runs of the namespace that are not finished (what a pipeline or model change may unblock). */
function openRuns(object: KubeObject, cache: CacheReader, pipeline?: string) {
  return cache
    .list<KubeObject & Partial<Pick<BootstrapRun, "spec" | "status">>>(resourceTypes.bootstrapRun, {
      namespace: object.metadata?.namespace ?? "",
    })
    .filter((run) => run.status?.phase !== "Succeeded" && run.status?.phase !== "Failed")
    .filter((run) => pipeline === undefined || run.spec?.pipelineRef?.name === pipeline)
    .map(keyOf);
}

/** The run whose Job made a shard pod (its label holds the run's name, shortened when long). */
function runOfShardPod(pod: KubeObject, cache: CacheReader) {
  const labels = pod.metadata?.labels ?? {};
  const run = labels[labelKeys.bootstrapRun];
  if (labels[labelKeys.component] !== "bootstrap" || run === undefined) return [];
  return openRuns(pod, cache).filter((key) => labelValue(key.name) === run);
}

/** The controller definition. */
export function bootstrapRunController(settings: ControllerSettings): ControllerDefinition {
  const failedGauge = settings.registry === undefined ? undefined : bootstrapFailedGauge(settings.registry);
  const shardGauges = settings.registry === undefined ? undefined : bootstrapShardGauges(settings.registry);
  const replacedJobs = new ReplacedJobs();
  return {
    name: "bootstrap-run",
    primary: resourceTypes.bootstrapRun,
    owns: [resourceTypes.job, resourceTypes.configMap],
    watches: [
      {
        type: resourceTypes.nearlinePipeline,
        map: (pipeline, cache) => openRuns(pipeline, cache, pipeline.metadata?.name),
      },
      { type: resourceTypes.embeddingModel, map: (model, cache) => openRuns(model, cache) },
      // A shard pod the scheduler cannot place (or places at last) changes the run's standing.
      { type: resourceTypes.pod, map: runOfShardPod, managedOnly: true },
    ],
    concurrency: settings.concurrency,
    // A finished run waits on no list, and its reconcile never writes its status again: a Stalled
    // written on it would turn a Succeeded run Ready=False for good (nor is it counted as failing).
    reportNotSynced: async (context, cause) => {
      const raw = context.cache.get<BootstrapRun & KubeObject>(resourceTypes.bootstrapRun, context.key);
      if (raw !== undefined && isFinished(raw)) return false;
      await reportNotSynced(resourceTypes.bootstrapRun, context, cause);
    },
    // Nor a failure: a finished run's reconcile only acknowledges a spec edit (observedGeneration),
    // which the report's write does already, so a ReconcileError there would never be replaced. A run
    // waiting for its changelog topic keeps saying so (its Warning Event told once) until one persists.
    reportFailure: async (context, failure) => {
      const raw = context.cache.get<BootstrapRun & KubeObject>(resourceTypes.bootstrapRun, context.key);
      if (raw !== undefined && isFinished(raw)) return;
      await reportReconcileError(resourceTypes.bootstrapRun, context, failure, waitingReasons);
    },
    reconcile: (context) =>
      reconcileBootstrapRun(context, {
        images: settings.images,
        placement: settings.placement,
        replacedJobs,
        ...(settings.externalTimeoutMs !== undefined
          ? { externalTimeoutMs: settings.externalTimeoutMs }
          : {}),
        ...(failedGauge !== undefined ? { failedGauge } : {}),
        ...(shardGauges !== undefined ? { shardGauges } : {}),
      }),
  };
}

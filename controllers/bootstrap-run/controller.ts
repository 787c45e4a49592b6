// The BootstrapRun controller as the operator registers it: reconciles runs, owns their Jobs and
// ConfigMaps, and is woken when the pipeline a run names appears or changes.
import type { BootstrapRun } from "../../crds/index.ts";
import type { ControllerSettings } from "../../operator/controllers.ts";
import { keyOf } from "../../operator/runtime/object-key.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import { reportReconcileError } from "../shared/reconcile-error.ts";
import type { CacheReader, ControllerDefinition, KubeObject } from "../../operator/runtime/types.ts";
import { reconcileBootstrapRun } from "./reconcile.ts";
import { bootstrapFailedGauge } from "./run-metrics.ts";

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

/** The controller definition. */
export function bootstrapRunController(settings: ControllerSettings): ControllerDefinition {
  const failedGauge = settings.registry === undefined ? undefined : bootstrapFailedGauge(settings.registry);
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
    ],
    concurrency: settings.concurrency,
    reportFailure: (context, failure) => reportReconcileError(resourceTypes.bootstrapRun, context, failure),
    reconcile: (context) =>
      reconcileBootstrapRun(context, {
        images: settings.images,
        placement: settings.placement,
        ...(failedGauge !== undefined ? { failedGauge } : {}),
      }),
  };
}

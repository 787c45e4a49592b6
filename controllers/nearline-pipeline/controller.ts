// The NearlinePipeline controller as the operator registers it: reconciles pipelines, owns the worker
// Deployments and ConfigMaps, and is woken by changes to the pipeline's EmbeddingModel.
import type { NearlinePipeline } from "../../crds/index.ts";
import type { ControllerSettings } from "../../operator/controllers.ts";
import { keyOf } from "../../operator/runtime/object-key.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import { reportReconcileError } from "../shared/reconcile-error.ts";
import type { CacheReader, ControllerDefinition, KubeObject } from "../../operator/runtime/types.ts";
import { FiguresSampler } from "./figures-sampler.ts";
import { pipelinePollMs, reconcileNearlinePipeline, type PipelineReconcileSettings } from "./reconcile.ts";
import { workerGauges } from "./worker-metrics.ts";

/** The pipelines of the namespace that name `model` (how a model change reaches its pipelines). */
function pipelinesOfModel(model: KubeObject, cache: CacheReader) {
  return cache
    .list<KubeObject & Partial<Pick<NearlinePipeline, "spec">>>(resourceTypes.nearlinePipeline, {
      namespace: model.metadata?.namespace ?? "",
    })
    .filter((pipeline) => pipeline.spec?.modelRef?.name === model.metadata?.name)
    .map(keyOf);
}

/** The controller definition; `testing.probe` replaces the reads of the workers' figures (tests). */
export function nearlinePipelineController(
  settings: ControllerSettings,
  testing: Pick<PipelineReconcileSettings, "probe"> = {},
): ControllerDefinition {
  const gauges = settings.registry === undefined ? undefined : workerGauges(settings.registry);
  // The workers' figures are read once per poll, not on every reconcile (figures-sampler.ts).
  const sampler = new FiguresSampler(pipelinePollMs);
  return {
    name: "nearline-pipeline",
    primary: resourceTypes.nearlinePipeline,
    // Pods are listed (managed-by label only) to read the workers' figures; their owner is a
    // ReplicaSet, so their events wake nothing and the status is refreshed by polling instead.
    owns: [
      resourceTypes.deployment,
      resourceTypes.configMap,
      resourceTypes.podDisruptionBudget,
      resourceTypes.pod,
    ],
    watches: [
      { type: resourceTypes.embeddingModel, map: pipelinesOfModel },
      // A BootstrapRun that captured its offsets lets the new version's workers start.
      {
        type: resourceTypes.bootstrapRun,
        map: (run) => [
          {
            namespace: run.metadata?.namespace ?? "",
            name: (run as { spec?: { pipelineRef?: { name?: string } } }).spec?.pipelineRef?.name ?? "",
          },
        ],
      },
      // A pipeline added or changed may stall or release its siblings (the one-store-per-model rule).
      {
        type: resourceTypes.nearlinePipeline,
        map: (pipeline, cache) =>
          pipelinesOfModel(
            {
              metadata: {
                namespace: pipeline.metadata?.namespace ?? "",
                name: (pipeline as Partial<NearlinePipeline>).spec?.modelRef?.name ?? "",
              },
            },
            cache,
          ),
      },
    ],
    concurrency: settings.concurrency,
    reportFailure: (context, failure) =>
      reportReconcileError(resourceTypes.nearlinePipeline, context, failure),
    reconcile: (context) =>
      reconcileNearlinePipeline(context, {
        images: settings.images,
        placement: settings.placement,
        workerGauges: gauges,
        sampler,
        ...testing,
      }),
  };
}

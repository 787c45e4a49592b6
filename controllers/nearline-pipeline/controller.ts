// The NearlinePipeline controller as the operator registers it: reconciles pipelines, owns the worker
// Deployments and ConfigMaps, and is woken by changes to the pipeline's EmbeddingModel and to its
// worker pods (a pod the kubelet cannot run stalls the pipeline within seconds, see failing-pods.ts).
import type { NearlinePipeline } from "../../crds/index.ts";
import type { ControllerSettings } from "../../operator/controllers.ts";
import { keyOf } from "../../operator/runtime/object-key.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import { reportNotSynced, reportReconcileError } from "../shared/reconcile-error.ts";
import type { CacheReader, ControllerDefinition, KubeObject } from "../../operator/runtime/types.ts";
import { labelKeys } from "../shared/labels.ts";
import { labelValue } from "../shared/names.ts";
import { FiguresSampler } from "./figures-sampler.ts";
import { LossLedger } from "./record-losses.ts";
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

/**
 * The pipeline whose nearline worker this pod is. Its owner is a ReplicaSet, so without this a worker
 * the kubelet cannot start (image pull, crash loop) would show only at the next figures poll.
 */
function pipelineOfWorkerPod(pod: KubeObject, cache: CacheReader) {
  const labels = pod.metadata?.labels ?? {};
  const pipeline = labels[labelKeys.pipeline];
  if (labels[labelKeys.component] !== "nearline" || pipeline === undefined) return [];
  const namespace = pod.metadata?.namespace ?? "";
  return cache
    .list(resourceTypes.nearlinePipeline, { namespace })
    .filter((candidate) => labelValue(candidate.metadata?.name ?? "") === pipeline)
    .map(keyOf);
}

/** The controller definition; `testing.probe` replaces the reads of the workers' figures (tests). */
export function nearlinePipelineController(
  settings: ControllerSettings,
  testing: Pick<PipelineReconcileSettings, "probe"> = {},
): ControllerDefinition {
  const gauges = settings.registry === undefined ? undefined : workerGauges(settings.registry);
  // The workers' figures are read once per poll, not on every reconcile (figures-sampler.ts).
  const pollMs = settings.pipelinePollMs ?? pipelinePollMs;
  const sampler = new FiguresSampler(pollMs);
  // Each worker process's losses as last read, so a restart that loses again is told (record-losses.ts).
  const losses = new LossLedger();
  return {
    name: "nearline-pipeline",
    primary: resourceTypes.nearlinePipeline,
    owns: [resourceTypes.deployment, resourceTypes.configMap, resourceTypes.podDisruptionBudget],
    watches: [
      // Worker pods (managed-by label only): their figures are read by polling, their failures
      // (waiting reasons) reported as soon as the kubelet writes them.
      { type: resourceTypes.pod, map: pipelineOfWorkerPod, managedOnly: true },
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
    reportNotSynced: (context, cause) => reportNotSynced(resourceTypes.nearlinePipeline, context, cause),
    reportFailure: (context, failure) =>
      reportReconcileError(resourceTypes.nearlinePipeline, context, failure),
    reconcile: (context) =>
      reconcileNearlinePipeline(context, {
        images: settings.images,
        placement: settings.placement,
        workerGauges: gauges,
        sampler,
        losses,
        pollMs,
        ...testing,
      }),
  };
}

// The EmbeddingModel controller as the operator registers it: its primary resource, the children it
// owns (their events wake the model), the pipelines and BootstrapRuns whose progress gates its
// promotion, the serving pods whose failures stall it, the terminating writer pods its garbage collection
// waits for, and the reconcile function.
import { Registry } from "prom-client";
import type { ControllerSettings } from "../../operator/controllers.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import { reportNotSynced, reportReconcileError } from "../shared/reconcile-error.ts";
import type { CacheReader, ControllerDefinition, KubeObject } from "../../operator/runtime/types.ts";
import { labelKeys } from "../shared/labels.ts";
import { labelValue } from "../shared/names.ts";
import { withApprovalAsSeen } from "./approval-kept.ts";
import { missingReferenceReasons } from "./blockers.ts";
import { ModelStores } from "./model-store.ts";
import { reconcileEmbeddingModel, type ModelReconcileSettings } from "./reconcile.ts";

/** The model a pipeline names. */
function modelOfPipeline(pipeline: KubeObject) {
  const name = (pipeline.spec as { modelRef?: { name?: string } } | undefined)?.modelRef?.name;
  return name === undefined ? [] : [{ namespace: pipeline.metadata?.namespace ?? "", name }];
}

/**
 * The model whose serving pod this is (a fetch step's failure in its status stalls the promotion), or
 * whose terminating nearline or bootstrap pod this is (the garbage collection of its version waits
 * until such pods are gone, see writer-pods.ts).
 */
function modelOfPod(pod: KubeObject, cache: CacheReader) {
  const labels = pod.metadata?.labels ?? {};
  const component = labels[labelKeys.component];
  const terminatingWriter =
    (component === "nearline" || component === "bootstrap") && pod.metadata?.deletionTimestamp != null;
  if ((component !== "serving" && !terminatingWriter) || labels[labelKeys.model] === undefined) return [];
  const namespace = pod.metadata?.namespace ?? "";
  return cache
    .list(resourceTypes.embeddingModel, { namespace })
    .filter((model) => labelValue(model.metadata?.name ?? "") === labels[labelKeys.model])
    .map((model) => ({ namespace, name: model.metadata!.name! }));
}

/** The model of the pipeline a BootstrapRun fills (user-created runs are adopted, not owned). */
function modelOfRun(run: KubeObject, cache: CacheReader) {
  const pipelineName = (run.spec as { pipelineRef?: { name?: string } } | undefined)?.pipelineRef?.name;
  if (pipelineName === undefined) return [];
  const pipeline = cache.get(resourceTypes.nearlinePipeline, {
    namespace: run.metadata?.namespace ?? "",
    name: pipelineName,
  });
  return pipeline === undefined ? [] : modelOfPipeline(pipeline);
}

/** The controller definition. */
export function embeddingModelController(
  settings: ControllerSettings & Partial<Pick<ModelReconcileSettings, "servingEndpoint" | "measureParity">>,
): ControllerDefinition {
  const registry = settings.registry ?? new Registry();
  const stores = new ModelStores(registry);
  const reconcileSettings: ModelReconcileSettings = {
    images: settings.images,
    placement: settings.placement,
    ...(settings.pipelinePollMs !== undefined ? { pipelinePollMs: settings.pipelinePollMs } : {}),
    stores,
    registry,
    ...(settings.servingEndpoint !== undefined ? { servingEndpoint: settings.servingEndpoint } : {}),
    ...(settings.measureParity !== undefined ? { measureParity: settings.measureParity } : {}),
    ...(settings.modelResyncMs !== undefined ? { modelResyncMs: settings.modelResyncMs } : {}),
    ...(settings.collectionPollMs !== undefined ? { collectionPollMs: settings.collectionPollMs } : {}),
    ...(settings.parityTimeoutMs !== undefined ? { parityTimeoutMs: settings.parityTimeoutMs } : {}),
    ...(settings.externalTimeoutMs !== undefined ? { externalTimeoutMs: settings.externalTimeoutMs } : {}),
  };
  return {
    name: "embedding-model",
    primary: resourceTypes.embeddingModel,
    owns: [
      resourceTypes.deployment,
      resourceTypes.service,
      resourceTypes.configMap,
      resourceTypes.podDisruptionBudget,
      resourceTypes.horizontalPodAutoscaler,
      resourceTypes.bootstrapRun,
    ],
    watches: [
      { type: resourceTypes.nearlinePipeline, map: modelOfPipeline },
      { type: resourceTypes.bootstrapRun, map: modelOfRun },
      { type: resourceTypes.pod, map: modelOfPod, managedOnly: true },
    ],
    concurrency: settings.concurrency,
    // Both keep the status as the reconcile's Stalled paths do: an approval removed from the spec is
    // forgotten however long the failures last.
    reportNotSynced: (context, cause) =>
      reportNotSynced(resourceTypes.embeddingModel, context, cause, withApprovalAsSeen),
    // A first failure leaves a model waiting for a missing Secret, claim or topic saying so: written
    // over, the next reconcile would record that cause's Warning Event again as new.
    reportFailure: (context, failure) =>
      reportReconcileError(
        resourceTypes.embeddingModel,
        context,
        failure,
        missingReferenceReasons,
        withApprovalAsSeen,
      ),
    reconcile: (context) => reconcileEmbeddingModel(context, reconcileSettings),
    close: () => stores.close(),
  };
}

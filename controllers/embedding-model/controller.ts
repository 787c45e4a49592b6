// The EmbeddingModel controller as the operator registers it: its primary resource, the children it
// owns (their events wake the model), and the reconcile function.
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ControllerDefinition } from "../../operator/runtime/types.ts";
import type { Images } from "../shared/image.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { reconcileEmbeddingModel } from "./reconcile.ts";

/** The controller definition; `images` are the operator's own image names. */
export function embeddingModelController(settings: {
  images: Images;
  placement?: WorkloadPlacement;
  concurrency: number;
}): ControllerDefinition {
  return {
    name: "embedding-model",
    primary: resourceTypes.embeddingModel,
    owns: [
      resourceTypes.deployment,
      resourceTypes.service,
      resourceTypes.configMap,
      resourceTypes.podDisruptionBudget,
      resourceTypes.horizontalPodAutoscaler,
    ],
    concurrency: settings.concurrency,
    reconcile: (context) => reconcileEmbeddingModel(context, settings.images, settings.placement),
  };
}

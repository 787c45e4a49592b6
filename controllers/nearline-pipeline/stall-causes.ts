// Why a NearlinePipeline cannot run until someone changes a resource: its model is missing, the model
// has no prompt for its entity, the prompt uses a field the pipeline never extracts, a referenced
// Secret is missing, or another pipeline of the same model writes to a different store (another name,
// or the same name on another Redis server, database or Redis Cluster).
import type { EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { templateFields } from "../../serving/core/prompts.ts";
import type { Kstatus } from "../shared/conditions.ts";
import { isOlderPipeline as isOlder } from "../shared/pipeline-age.ts";
import { missingSecretReference, referencedSecrets } from "./secret-refs.ts";
import { sameStoreEndpoint } from "./store-endpoint.ts";

/** What the controller read about a pipeline's surroundings. */
export interface PipelineSurroundings {
  pipeline: NearlinePipeline;
  /** The EmbeddingModel spec.modelRef names; undefined when it does not exist. */
  model: EmbeddingModel | undefined;
  /** The other NearlinePipelines of the same model in the namespace. */
  siblings: readonly NearlinePipeline[];
  /** Existing Secrets among those referenced: name -> data keys. */
  secrets: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * The store endpoint (store-endpoint.ts) of this pipeline and of its siblings, by pipeline name,
   * where their store Secret could be read; a pipeline missing here is not compared by endpoint.
   * Compared with sameStoreEndpoint (seed lists of one Cluster need not be equal).
   */
  storeEndpoints?: ReadonlyMap<string, string>;
}

function stalled(reason: string, message: string): Kstatus {
  return { state: "Stalled", reason, message };
}

/** The first reason `pipeline` is stuck, or undefined when it is consistent with its surroundings. */
export function pipelineStallCause(surroundings: PipelineSurroundings): Kstatus | undefined {
  const { pipeline, model, siblings, secrets } = surroundings;
  const spec = pipeline.spec;
  if (model === undefined)
    return stalled(
      "ModelNotFound",
      `spec.modelRef.name: EmbeddingModel ${spec.modelRef.name} does not exist in namespace ${pipeline.metadata.namespace ?? "default"}`,
    );
  const template = model.spec.prompts[spec.entity];
  if (template === undefined)
    return stalled(
      "PromptMissing",
      `spec.entity: EmbeddingModel ${model.metadata.name} has no prompt for entity ${spec.entity} (it has prompts for ${Object.keys(model.spec.prompts).sort().join(", ")})`,
    );
  const unextracted = templateFields(template).filter((field) => !(field in spec.extract));
  if (unextracted.length > 0)
    return stalled(
      "PromptFieldNotExtracted",
      `spec.extract: the prompt of entity ${spec.entity} in EmbeddingModel ${model.metadata.name} uses ${unextracted.map((field) => `{{${field}}}`).join(", ")}, which spec.extract does not define`,
    );
  // The model's store is its oldest pipeline's (the EmbeddingModel controller flips and bootstraps
  // that one): a newer pipeline naming another stalls; a stalled one in between is no measure.
  const store = spec.sinks.store.name;
  const oldest = siblings
    .filter((other) => isOlder(other, pipeline))
    .sort((a, b) => (isOlder(a, b) ? -1 : 1))[0];
  if (oldest !== undefined && oldest.spec.sinks.store.name !== store)
    return stalled(
      "StoreConflict",
      `spec.sinks.store.name: ${store} differs from ${oldest.spec.sinks.store.name}, the store of NearlinePipeline ${oldest.metadata.name} of the same EmbeddingModel ${model.metadata.name}; all pipelines of a model must name one store so one pointer flip switches them together`,
    );
  const endpoint = surroundings.storeEndpoints?.get(pipeline.metadata.name);
  const theirs = oldest && surroundings.storeEndpoints?.get(oldest.metadata.name);
  if (
    oldest !== undefined &&
    endpoint !== undefined &&
    theirs !== undefined &&
    !sameStoreEndpoint(theirs, endpoint)
  ) {
    const ref = spec.sinks.store.urlSecretRef;
    return stalled(
      "StoreConflict",
      `spec.sinks.store.urlSecretRef: Secret ${ref.name} (key ${ref.key}) names Redis ${endpoint}, but NearlinePipeline ${oldest.metadata.name} of the same EmbeddingModel ${model.metadata.name} writes store ${store} at ${theirs}; all pipelines of a model must name one store (one Redis, one name) so one pointer flip switches them together`,
    );
  }
  // SecretKeyNotFound for a Secret without the key, the reason the EmbeddingModel gives for it.
  const secret = missingSecretReference(referencedSecrets(pipeline, model), secrets);
  if (secret !== undefined) return stalled(secret.reason, secret.message);
  return undefined;
}

// Reads what a pipeline's decisions need from the cache and the API: its EmbeddingModel, the other
// pipelines of that model, and the Secrets it references (values kept for reconcilers that connect).
import {
  safeParseEmbeddingModel,
  safeParseNearlinePipeline,
  type EmbeddingModel,
  type NearlinePipeline,
} from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext } from "../../operator/runtime/types.ts";
import { referencedSecrets } from "./secret-refs.ts";
import { readSecrets, secretKeys, type SecretValues } from "./secret-reader.ts";
import type { PipelineSurroundings } from "./stall-causes.ts";

/** The model, the other pipelines of the model, and the referenced Secrets that exist. */
export async function readSurroundings(
  context: ReconcileContext,
  pipeline: NearlinePipeline,
): Promise<{ surroundings: PipelineSurroundings; secretValues: SecretValues }> {
  const namespace = context.key.namespace;
  const modelRaw = context.cache.get(resourceTypes.embeddingModel, {
    namespace,
    name: pipeline.spec.modelRef.name,
  });
  const modelParsed = modelRaw === undefined ? undefined : safeParseEmbeddingModel(modelRaw);
  const model: EmbeddingModel | undefined = modelParsed?.success ? modelParsed.data : undefined;
  const siblings = context.cache
    .list(resourceTypes.nearlinePipeline, { namespace })
    .map((object) => safeParseNearlinePipeline(object))
    .flatMap((result) => (result.success ? [result.data] : []))
    .filter(
      (other) =>
        other.metadata.name !== pipeline.metadata.name &&
        other.spec.modelRef.name === pipeline.spec.modelRef.name,
    );
  const refs = model === undefined ? [] : referencedSecrets(pipeline, model);
  const secrets = await readSecrets(
    context.client,
    namespace,
    refs.map((ref) => ref.name),
  );
  return { surroundings: { pipeline, model, siblings, secrets: secretKeys(secrets) }, secretValues: secrets };
}

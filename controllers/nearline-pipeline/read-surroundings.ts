// Reads what a pipeline's decisions need from the cache and the API: its EmbeddingModel, the other
// pipelines of that model, the Secrets it references (values kept for reconcilers that connect) and
// where each of those pipelines' stores lives.
import {
  fromApiServer,
  safeParseEmbeddingModel,
  safeParseNearlinePipeline,
  type EmbeddingModel,
  type NearlinePipeline,
} from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext } from "../../operator/runtime/types.ts";
import { referencedSecrets } from "./secret-refs.ts";
import { readSecrets, secretKeys, type ReadSecrets } from "./secret-reader.ts";
import { storeEndpoint } from "./store-endpoint.ts";
import type { PipelineSurroundings } from "./stall-causes.ts";

/** The model, the other pipelines of the model, and the referenced Secrets that exist. */
export async function readSurroundings(
  context: ReconcileContext,
  pipeline: NearlinePipeline,
): Promise<{ surroundings: PipelineSurroundings; secretValues: ReadSecrets }> {
  const namespace = context.key.namespace;
  const modelRaw = context.cache.get(resourceTypes.embeddingModel, {
    namespace,
    name: pipeline.spec.modelRef.name,
  });
  const modelParsed = modelRaw === undefined ? undefined : safeParseEmbeddingModel(modelRaw, fromApiServer);
  const model: EmbeddingModel | undefined = modelParsed?.success ? modelParsed.data : undefined;
  const siblings = context.cache
    .list(resourceTypes.nearlinePipeline, { namespace })
    .map((object) => safeParseNearlinePipeline(object, fromApiServer))
    .flatMap((result) => (result.success ? [result.data] : []))
    .filter(
      (other) =>
        other.metadata.name !== pipeline.metadata.name &&
        other.spec.modelRef.name === pipeline.spec.modelRef.name,
    );
  // Without its model the pipeline's own store Secret is still read: a BootstrapRun whose Job runs on
  // reads its shards' checkpoints through it, and would otherwise never finish.
  const refs =
    model === undefined ? [pipeline.spec.sinks.store.urlSecretRef] : referencedSecrets(pipeline, model);
  // The siblings' store Secrets too (usually the same one), to tell whether they name the same Redis
  // (or Redis Cluster).
  const storeRefs = model === undefined ? [] : siblings.map((other) => other.spec.sinks.store.urlSecretRef);
  const secrets = await readSecrets(
    context.client,
    namespace,
    [...refs, ...storeRefs].map((ref) => ref.name),
  );
  const storeEndpoints = new Map<string, string>();
  for (const each of [pipeline, ...siblings]) {
    const { urlSecretRef: ref, cluster } = each.spec.sinks.store;
    const value = secrets.get(ref.name)?.get(ref.key);
    const endpoint = value === undefined ? undefined : storeEndpoint(value.toString("utf8"), cluster);
    if (endpoint !== undefined) storeEndpoints.set(each.metadata.name, endpoint);
  }
  return {
    surroundings: { pipeline, model, siblings, secrets: secretKeys(secrets), storeEndpoints },
    secretValues: secrets,
  };
}

// Which BootstrapRuns a model made for its promotion (and so deletes with a version it no longer
// records), as opposed to runs a user made by hand, which it adopts or leaves. Pure.
import type { EmbeddingModel } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { childLabels } from "./labels.ts";
import { isOrphaned } from "./owner.ts";

/** Whether `run` is one `model` made: it controls it, or it is its orphaned run (orphanedRunOf). */
export function madeByModel(run: Pick<KubeObject, "metadata">, model: EmbeddingModel): boolean {
  const owners = run.metadata?.ownerReferences ?? [];
  return owners.some((owner) => owner.uid === model.metadata.uid) || orphanedRunOf(run, model);
}

/**
 * A run this model made (its labels say so; a run made by hand has none) that nothing controls: the
 * model deleted with `kubectl delete --cascade=orphan`. Applied again, the model adopts it, as its
 * records (record-reader.ts) and served versions' objects, or deletes it with its superseded version.
 */
export function orphanedRunOf(run: Pick<KubeObject, "metadata">, model: EmbeddingModel): boolean {
  const labels = run.metadata?.labels ?? {};
  const { selector } = childLabels("bootstrap", { model: model.metadata.name });
  return Object.entries(selector).every(([key, value]) => labels[key] === value) && isOrphaned(run);
}

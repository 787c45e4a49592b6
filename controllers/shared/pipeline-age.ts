// Which of a model's NearlinePipelines sets its store. All pipelines of a model must name one store;
// when they disagree, the oldest one keeps running (the newer ones stall, so adding a wrong pipeline
// never stops a working one), and the EmbeddingModel controller flips and bootstraps that same store.
// Both controllers order pipelines with this one rule.
import type { NearlinePipeline } from "../../crds/index.ts";

function createdAt(pipeline: NearlinePipeline): string {
  return String((pipeline.metadata as { creationTimestamp?: unknown }).creationTimestamp ?? "");
}

/** Whether `a` is older than `b` (created earlier; of two created in the same second, the first by name). */
export function isOlderPipeline(a: NearlinePipeline, b: NearlinePipeline): boolean {
  const [timeA, timeB] = [createdAt(a), createdAt(b)];
  return timeA !== timeB ? timeA < timeB : a.metadata.name < b.metadata.name;
}

/** Sort comparator: oldest pipeline first. */
export function oldestPipelineFirst(a: NearlinePipeline, b: NearlinePipeline): number {
  if (a.metadata.name === b.metadata.name && createdAt(a) === createdAt(b)) return 0;
  return isOlderPipeline(a, b) ? -1 : 1;
}

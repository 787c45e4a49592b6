// Pods that may still write a version's vectors: nearline workers and bootstrap shards of a model that
// have not ended. A worker Deployment (or a bootstrap Job) leaves the cache at once when it is deleted,
// but its pods keep running through their termination grace period, and a nearline worker flushes its
// last batches to the store on SIGTERM. Collecting the version in that window would leave keys behind
// that no later step removes, so the garbage collection waits for these pods too. Pure.
import { labelKeys } from "../shared/labels.ts";
import { labelValue } from "../shared/names.ts";

/** What is read of a pod (the cache keeps metadata and status). */
export interface WriterPodView {
  metadata?: { labels?: Record<string, string>; deletionTimestamp?: unknown };
  status?: { phase?: string };
}

const writerComponents: ReadonlySet<string> = new Set(["nearline", "bootstrap"]);

/** Whether `pod` is a writer pod of the model named `model` (any version). */
export function isWriterPod(pod: WriterPodView, model: string): boolean {
  const labels = pod.metadata?.labels ?? {};
  return (
    writerComponents.has(labels[labelKeys.component] ?? "") &&
    labels[labelKeys.model] === labelValue(model) &&
    labels[labelKeys.embeddingVersion] !== undefined
  );
}

/** Versions with a writer pod of `model` that has not ended (Succeeded or Failed pods write no more). */
export function versionsWithWriterPods(pods: readonly WriterPodView[], model: string): string[] {
  const versions = new Set<string>();
  for (const pod of pods) {
    if (!isWriterPod(pod, model)) continue;
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    versions.add(pod.metadata!.labels![labelKeys.embeddingVersion]!);
  }
  return [...versions];
}

// What a version's serving pods say that the Deployment's counts do not, read from the pods' status.
// Failures that no amount of waiting cures, so a promotion stalls as soon as they are certain instead
// of at the progress deadline; today one such failure: `jude fetch-model` exits with its
// digest-mismatch code when the model file does not match spec.model.sha256 (or the rendered manifest
// does not match its own digest). Pods the scheduler cannot place: ../shared/unschedulable-pods.ts. Pure.
import type { V1ContainerStatus, V1PodCondition } from "@kubernetes/client-node";
import { digestMismatchExitCode } from "../../serving/fetch-model/errors.ts";
import { terminationSummary } from "../shared/termination-message.ts";

/** What the decision reads of a serving pod (the cache keeps metadata and status). */
export interface ServingPodView {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  status?: {
    phase?: string;
    conditions?: V1PodCondition[];
    initContainerStatuses?: V1ContainerStatus[];
    containerStatuses?: V1ContainerStatus[];
  };
}

/** A failure of the serving pods that waiting cannot fix. */
export interface ServingPodFailure {
  reason: "ModelDigestMismatch";
  message: string;
}

/** What each fetch step verifies, for the message. */
const verified: Readonly<Record<string, string>> = {
  "fetch-model": "the model file does not match spec.model.sha256",
  "model-manifest": "the rendered model manifest does not match its digest",
};

/**
 * The first certain failure among `pods`. A container that ran again after a mismatch still counts
 * (its last state says so) until it ends with success, so the verdict does not flap while the kubelet
 * retries it.
 */
export function servingPodFailure(pods: readonly ServingPodView[]): ServingPodFailure | undefined {
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp !== undefined) continue;
    for (const container of pod.status?.initContainerStatuses ?? []) {
      const what = verified[container.name];
      if (what === undefined) continue;
      const ended = container.state?.terminated ?? container.lastState?.terminated;
      if (ended?.exitCode !== digestMismatchExitCode) continue;
      const summary = ended.message === undefined ? "" : terminationSummary(ended.message);
      const detail = summary === "" ? "" : `: ${summary}`;
      return {
        reason: "ModelDigestMismatch",
        message: `${what} (pod ${pod.metadata?.name ?? "?"}, container ${container.name} exited ${ended.exitCode}, DIGEST_MISMATCH, ${container.restartCount} restarts${detail}); correct the digest or the file under a new version name`,
      };
    }
  }
  return undefined;
}

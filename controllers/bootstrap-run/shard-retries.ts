// Shard pods that ended while their run goes on. A shard's pod is never restarted in place
// (restartPolicy Never): the Job makes a new pod, after a back-off of 10 s doubling to 6 minutes for a
// failure (counted against spec.backoffLimit), at once for a pod its node stopped (evicted, shut down:
// the Job's podFailurePolicy ignores those) or for one interrupted (exit code 75: SIGTERM, e.g. deleted
// by hand, after its checkpoint, or during a store outage with its checkpoint as last saved; also
// ignored). So a shard that keeps failing never shows the kubelet's
// CrashLoopBackOff (./../shared/failing-pods.ts), and its run said only its progress ("no shard has
// reported yet") until the back-off limit failed it, minutes later. Named here with the words the
// serving pods are named in (the last exit; "was stopped by its node: Evicted: ..."). Pure.
import { lastFailedContainer, type PodContainersView } from "../shared/failing-pods.ts";
import { unreadyPods, type UnreadyPods, type UnreadyPodView } from "../shared/unready-pods.ts";
import { interruptedExitCode } from "./shard-job.ts";

/** What is read of a shard pod (the cache keeps metadata and status). */
export interface ShardPodView extends UnreadyPodView {
  status?: UnreadyPodView["status"] & { conditions?: { type: string; status: string }[] };
}

/** Shard pods that ended without finishing. */
export interface ShardRetries {
  /** Pods that failed (counted against spec.backoffLimit). */
  failed: number;
  /** The last failed container among them ("pod p, container c: Error, exit code 1 (...)"). */
  last?: string;
  /** The latest pod its node stopped (not counted against spec.backoffLimit). */
  stopped?: NonNullable<UnreadyPods["stopped"]>;
  /** Pods whose shard was interrupted (exit code 75; not counted against spec.backoffLimit). */
  interrupted?: { pods: number; lastPod: string };
}

/** When the shard container of `pod` exited with the interrupted code, else undefined. */
function interruptedAt(pod: ShardPodView): number | undefined {
  const terminated = (pod.status?.containerStatuses ?? []).find((status) => status.name === "bootstrap")
    ?.state?.terminated;
  if (terminated?.exitCode !== interruptedExitCode) return undefined;
  return terminated.finishedAt === undefined ? 0 : new Date(terminated.finishedAt).getTime() || 0;
}

/** The shard pods (not being deleted) that failed or that their node stopped; undefined when none. */
export function shardRetries(pods: readonly ShardPodView[]): ShardRetries | undefined {
  const live = pods.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
  const ended = live.filter(
    (pod) =>
      pod.status?.phase === "Failed" &&
      pod.status.reason === undefined &&
      !(pod.status.conditions ?? []).some(
        (condition) => condition.type === "DisruptionTarget" && condition.status === "True",
      ),
  );
  const interrupted = ended
    .flatMap((pod) => {
      const at = interruptedAt(pod);
      return at === undefined ? [] : [{ pod: pod.metadata?.name ?? "?", at }];
    })
    .sort((left, right) => right.at - left.at);
  const failed = ended.filter((pod) => interruptedAt(pod) === undefined);
  const stopped = unreadyPods(live)?.stopped;
  if (failed.length === 0 && stopped === undefined && interrupted.length === 0) return undefined;
  const last = lastFailedContainer(failed as readonly PodContainersView[]);
  return {
    failed: failed.length,
    ...(last !== undefined ? { last } : {}),
    ...(stopped !== undefined ? { stopped } : {}),
    ...(interrupted.length > 0
      ? { interrupted: { pods: interrupted.length, lastPod: interrupted[0]!.pod } }
      : {}),
  };
}

/**
 * "2 shard pods failed and were retried (2 of spec.backoffLimit 6); last: pod p, container c: ...",
 * "pod q was stopped by its node: Evicted: ...; the Job replaced it (...)", and "pod r was interrupted
 * (exit code 75: ...); the Job replaced it (...)".
 */
export function describeShardRetries(retries: ShardRetries, backoffLimit: number): string {
  const { failed, last, stopped, interrupted } = retries;
  const pods =
    failed === 1 ? "1 shard pod failed and was retried" : `${failed} shard pods failed and were retried`;
  return [
    ...(failed > 0
      ? [
          `${pods} (${failed} of spec.backoffLimit ${backoffLimit})${last !== undefined ? `; last: ${last}` : ""}`,
        ]
      : []),
    ...(stopped !== undefined
      ? [
          `pod ${stopped.pod} was stopped by its node: ${stopped.reason}: ${stopped.message}; the Job replaced it (a stop is not counted against spec.backoffLimit)`,
        ]
      : []),
    ...(interrupted !== undefined
      ? [
          `${interrupted.pods === 1 ? `pod ${interrupted.lastPod} was interrupted` : `${interrupted.pods} shard pods were interrupted, last ${interrupted.lastPod}`} (exit code ${interruptedExitCode}: stopped, e.g. deleted; it resumes from its last saved checkpoint); the Job replaced ${interrupted.pods === 1 ? "it" : "them"} (an interruption is not counted against spec.backoffLimit)`,
        ]
      : []),
  ].join("; ");
}

// The desired children of a BootstrapRun: the shards' ConfigMap and an Indexed Job with one index per
// shard, carrying the run's back-off, deadline, TTL and suspend.
import type { V1ConfigMap, V1Job } from "@kubernetes/client-node";
import type { BootstrapRun, EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import type { LiveVersion } from "../nearline-pipeline/live-versions.ts";
import { workerParts, workerPodSpec } from "../nearline-pipeline/worker-pod.ts";
import type { Images } from "../shared/image.ts";
import { annotationKeys, childLabels } from "../shared/labels.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { bootstrapJobName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";
import { desiredShardConfig, resolveFileUris, type ShardConfigOptions } from "./shard-config.ts";

/** `jude bootstrap` exits 2 on a bad config; retrying cannot fix it, so the Job fails at once. */
export const badConfigExitCode = 2;

/**
 * `jude bootstrap` exits 75 on SIGTERM after checkpointing, or during a store outage with its checkpoint
 * as last saved (pipelines/bootstrap/main.ts): a shard pod
 * deleted by hand gets no DisruptionTarget condition, so only this code tells the Job not to count it
 * against backoffLimit (repeated deletions would otherwise fail the run).
 */
export const interruptedExitCode = 75;

/** What a BootstrapRun needs in the cluster. */
export interface DesiredShards {
  configMap: V1ConfigMap;
  job: V1Job;
  /** Secrets the pods reference (they must exist; they are never copied). */
  secretNames: string[];
}

/** Builds the ConfigMap and Indexed Job of `run`. Pure; a Kafka source needs status.watermarks. */
export function desiredShards(
  objects: { run: BootstrapRun; pipeline: NearlinePipeline; model: EmbeddingModel; version: LiveVersion },
  images: Images,
  placement?: WorkloadPlacement,
  configOptions?: ShardConfigOptions,
): DesiredShards {
  const { run, pipeline, model, version } = objects;
  const name = bootstrapJobName(run.metadata.name, run.spec.parallelism);
  const namespace = run.metadata.namespace ?? "default";
  const { labels } = childLabels("bootstrap", {
    model: model.metadata.name,
    embeddingVersion: version.version,
    pipeline: pipeline.metadata.name,
    bootstrapRun: run.metadata.name,
  });
  const owner = controllerRef(run);
  const files = resolveFileUris(run.spec.source.files?.uris ?? []);
  const { configMap, configHash, container, wiring } = workerParts({
    name,
    namespace,
    labels,
    owner,
    image: images.jude,
    subcommand: "bootstrap",
    resources: run.spec.resources,
    render: (secrets) => desiredShardConfig(objects, secrets, files.uris, configOptions),
  });
  container.volumeMounts!.push(...files.claims.volumeMounts);
  const podSpec = workerPodSpec({
    container,
    configMapName: name,
    wiring,
    // A failed shard is retried by a new pod (counted against backoffLimit) that resumes from its
    // checkpoint; Never is also what a podFailurePolicy requires.
    restartPolicy: "Never",
    terminationGracePeriodSeconds: 30,
    images,
    placement,
  });
  podSpec.volumes!.push(...files.claims.volumes);

  const spec = run.spec;
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: {
      completionMode: "Indexed",
      completions: spec.parallelism,
      parallelism: spec.parallelism,
      backoffLimit: spec.backoffLimit,
      ...(spec.activeDeadlineSeconds !== undefined
        ? { activeDeadlineSeconds: spec.activeDeadlineSeconds }
        : {}),
      ...(spec.ttlSecondsAfterFinished !== undefined
        ? { ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished }
        : {}),
      suspend: spec.suspend,
      podFailurePolicy: {
        rules: [
          {
            action: "FailJob",
            onExitCodes: { containerName: "bootstrap", operator: "In", values: [badConfigExitCode] },
          },
          // A shard interrupted (its pod deleted) or evicted or preempted resumes from its checkpoint;
          // that is no failure of the run.
          {
            action: "Ignore",
            onExitCodes: { containerName: "bootstrap", operator: "In", values: [interruptedExitCode] },
          },
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        ],
      },
      // Kubernetes sets JOB_COMPLETION_INDEX in each pod; the config leaves shards.index unset.
      template: {
        metadata: { labels, annotations: { [annotationKeys.configHash]: configHash } },
        spec: podSpec,
      },
    },
  };
  return { configMap, job, secretNames: wiring.secretNames };
}

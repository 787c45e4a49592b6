// A Secret the shards of a running Job read, deleted (or its key) since the Job started. The shard
// pods running keep what they read of it, so the Job goes on and may still succeed; but a shard pod
// started from then on (a retry, a resume, a replacement) cannot start, and only restoring the Secret
// helps: the run says so, as the pipeline and the model say a missing Secret. Pure.
import type { V1Job } from "@kubernetes/client-node";
import {
  missingSecretReference,
  referencedSecrets,
  type FieldSecretRef,
  type MissingSecretReference,
} from "../nearline-pipeline/secret-refs.ts";
import type { PipelineSurroundings } from "../nearline-pipeline/stall-causes.ts";

/** The names of the Secrets a Job's pod template reads: env values and volumes. */
export function jobSecretNames(job: V1Job): Set<string> {
  const pod = job.spec?.template?.spec;
  const names = new Set<string>();
  const add = (name: string | undefined) => {
    if (name !== undefined && name !== "") names.add(name);
  };
  for (const container of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
    for (const env of container.env ?? []) add(env.valueFrom?.secretKeyRef?.name);
    for (const from of container.envFrom ?? []) add(from.secretRef?.name);
  }
  for (const volume of pod?.volumes ?? []) {
    add(volume.secret?.secretName);
    for (const source of volume.projected?.sources ?? []) add(source.secret?.name);
  }
  return names;
}

/**
 * The first Secret or key that `job`'s shards read and that is missing now, with its reason
 * (SecretNotFound, SecretKeyNotFound) and a message naming the field that references it; undefined
 * when none is. Only references the pipeline and model still
 * make are checked (those are the Secrets read), and only those the Job's pods read.
 */
export function missingShardSecret(
  job: V1Job,
  surroundings: PipelineSurroundings,
): MissingSecretReference | undefined {
  const { pipeline, model } = surroundings;
  const refs: FieldSecretRef[] =
    model !== undefined
      ? referencedSecrets(pipeline, model)
      : [
          {
            object: `NearlinePipeline ${pipeline.metadata.name}`,
            field: "spec.sinks.store.urlSecretRef",
            ...pipeline.spec.sinks.store.urlSecretRef,
          },
        ];
  const read = jobSecretNames(job);
  return missingSecretReference(
    refs.filter((ref) => read.has(ref.name)),
    surroundings.secrets,
  );
}

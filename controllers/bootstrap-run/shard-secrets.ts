// A Secret the shards of a running Job read, deleted (or its key) since the Job started. The shard
// pods running keep what they read of it, so the Job goes on and may still succeed; but a shard pod
// started from then on (a retry, a resume, a replacement) cannot start, and only restoring the Secret
// helps: the run says so, as the pipeline and the model say a missing Secret. What counts is what the
// Job's pod template reads (its template is immutable), not what the pipeline and model reference now:
// a reference renamed or a key edited since changes nothing for the Job. Pure.
import type { V1Job } from "@kubernetes/client-node";
import { secretEnv, secretVolume } from "../nearline-pipeline/config-sections.ts";
import {
  referencedSecrets,
  unmetSecretRead,
  type FieldSecretRef,
  type MissingSecretReference,
} from "../nearline-pipeline/secret-refs.ts";
import type { PipelineSurroundings } from "../nearline-pipeline/stall-causes.ts";

/** One Secret (and key, unless the whole Secret is read) a pod template requires, and through what. */
export interface SecretRead {
  name: string;
  /** Undefined when the pod reads the whole Secret (envFrom, a volume without items). */
  key?: string | undefined;
  /** The env variable or volume that reads it, as a person finds it in the template. */
  via: { kind: "env" | "envFrom" | "volume"; name: string };
}

/**
 * The Secret reads `job`'s pod template requires, in the template's order (env, then volumes), each
 * once: a read marked optional lets the kubelet start the pod without the Secret or key, so it is left out.
 */
export function jobSecretReads(job: V1Job): SecretRead[] {
  const pod = job.spec?.template?.spec;
  const reads: SecretRead[] = [];
  const add = (
    name: string | undefined,
    keys: readonly (string | undefined)[],
    optional: boolean | undefined,
    via: SecretRead["via"],
  ) => {
    if (name === undefined || name === "" || optional === true) return;
    for (const key of keys)
      if (!reads.some((read) => read.name === name && read.key === key)) reads.push({ name, key, via });
  };
  const itemKeys = (items: readonly { key: string }[] | undefined) =>
    items === undefined || items.length === 0 ? [undefined] : items.map((item) => item.key);
  for (const container of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
    for (const env of container.env ?? []) {
      const ref = env.valueFrom?.secretKeyRef;
      add(ref?.name, [ref?.key], ref?.optional, { kind: "env", name: env.name });
    }
    for (const from of container.envFrom ?? [])
      add(from.secretRef?.name, [undefined], from.secretRef?.optional, {
        kind: "envFrom",
        name: from.secretRef?.name ?? "",
      });
  }
  for (const volume of pod?.volumes ?? []) {
    const secret = volume.secret;
    add(secret?.secretName, itemKeys(secret?.items), secret?.optional, { kind: "volume", name: volume.name });
    for (const source of volume.projected?.sources ?? [])
      add(source.secret?.name, itemKeys(source.secret?.items), source.secret?.optional, {
        kind: "volume",
        name: volume.name,
      });
  }
  return reads;
}

/** The names of the Secrets a Job's pod template requires (to be read before missingShardSecret). */
export function jobSecretNames(job: V1Job): Set<string> {
  return new Set(jobSecretReads(job).map((read) => read.name));
}

/** The spec field whose reference the shards read through each env variable and volume (config-sections.ts). */
const fieldReadThrough: Readonly<Record<string, string>> = {
  [secretEnv.storeUrl]: "spec.sinks.store.urlSecretRef",
  [secretEnv.kafkaUsername]: "spec.source.kafka.sasl.usernameSecretRef",
  [secretEnv.kafkaPassword]: "spec.source.kafka.sasl.passwordSecretRef",
  [secretVolume.kafkaCa]: "spec.source.kafka.tls.caSecretRef",
  [secretVolume.kafkaCert]: "spec.source.kafka.tls.certSecretRef",
  [secretVolume.kafkaKey]: "spec.source.kafka.tls.keySecretRef",
  [secretVolume.servingCa]: "spec.serving.tls.secretName",
  [secretVolume.servingToken]: "spec.serving.auth.tokenSecretRef",
};

/**
 * The first Secret or key that `job`'s shard pods require and that is missing now (`surroundings.secrets`
 * must hold every Secret jobSecretNames gives), with its reason (SecretNotFound, SecretKeyNotFound)
 * and a message naming the field that references it: as the pipeline says it while the field still
 * names that Secret and key, or "named … when Job J started" when it was renamed or edited since, or
 * the Job's env variable or volume when no field of the pipeline or model names it any more.
 * Undefined when none is.
 */
export function missingShardSecret(
  job: V1Job,
  surroundings: PipelineSurroundings,
): MissingSecretReference | undefined {
  const { pipeline, model, secrets } = surroundings;
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
  const jobName = job.metadata?.name ?? "";
  for (const read of jobSecretReads(job)) {
    const field = fieldReadThrough[read.via.name];
    const ref = refs.find((candidate) => candidate.field === field);
    const missing =
      ref === undefined
        ? unmetSecretRead(
            read,
            secrets,
            `the shard pods of Job ${jobName} read`,
            ` (${read.via.kind} ${read.via.name})`,
          )
        : ref.name === read.name && (read.key === undefined || ref.key === read.key)
          ? unmetSecretRead(read, secrets, `${ref.object}: ${ref.field} names`)
          : unmetSecretRead(
              read,
              secrets,
              `${ref.object}: ${ref.field} named`,
              ` when Job ${jobName} started (its shard pods read it)`,
            );
    if (missing !== undefined) return missing;
  }
  return undefined;
}

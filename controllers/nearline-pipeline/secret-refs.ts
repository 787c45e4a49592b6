// Every Secret key a pipeline's workers read, with the field that names it, so a missing Secret is
// reported by the field a person must fix. Shared with BootstrapRun, whose shards read the same keys.
import type { EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import type { SecretKeyReference } from "../shared/secret-wiring.ts";

/** A Secret key and the field that references it, e.g. spec.sinks.store.urlSecretRef. */
export interface FieldSecretRef extends SecretKeyReference {
  field: string;
  /** The kind and name of the object holding the field. */
  object: string;
  /** The Secret must exist, the key need not (the serving TLS Secret's ca.crt). */
  keyOptional?: boolean;
}

/** The serving TLS Secret's key holding the CA that workers and shards verify the server with, if any. */
export const servingCaKey = "ca.crt";

/** The Secret keys a worker of `pipeline` for `model` reads. */
export function referencedSecrets(pipeline: NearlinePipeline, model: EmbeddingModel): FieldSecretRef[] {
  const inPipeline = `NearlinePipeline ${pipeline.metadata.name}`;
  const inModel = `EmbeddingModel ${model.metadata.name}`;
  const kafka = pipeline.spec.source.kafka;
  const refs: FieldSecretRef[] = [
    { object: inPipeline, field: "spec.sinks.store.urlSecretRef", ...pipeline.spec.sinks.store.urlSecretRef },
  ];
  const add = (object: string, field: string, ref: SecretKeyReference | undefined) => {
    if (ref !== undefined) refs.push({ object, field, name: ref.name, key: ref.key });
  };
  add(inPipeline, "spec.source.kafka.tls.caSecretRef", kafka.tls?.caSecretRef);
  add(inPipeline, "spec.source.kafka.tls.certSecretRef", kafka.tls?.certSecretRef);
  add(inPipeline, "spec.source.kafka.tls.keySecretRef", kafka.tls?.keySecretRef);
  add(inPipeline, "spec.source.kafka.sasl.usernameSecretRef", kafka.sasl?.usernameSecretRef);
  add(inPipeline, "spec.source.kafka.sasl.passwordSecretRef", kafka.sasl?.passwordSecretRef);
  const serving = model.spec.serving;
  // ca.crt is optional, as the parity check treats it: without one the workers trust the system roots.
  if (serving.tls !== undefined)
    refs.push({
      object: inModel,
      field: "spec.serving.tls.secretName",
      name: serving.tls.secretName,
      key: servingCaKey,
      keyOptional: true,
    });
  add(inModel, "spec.serving.auth.tokenSecretRef", serving.auth?.tokenSecretRef);
  return refs;
}

/** A referenced Secret, or a key of it, that does not exist: the reason and a message naming the field. */
export interface MissingSecretReference {
  /** SecretKeyNotFound when the Secret exists without the key, as the EmbeddingModel says it. */
  reason: "SecretNotFound" | "SecretKeyNotFound";
  message: string;
}

/**
 * The first reference whose Secret or key does not exist, with its reason and a message naming the
 * field; `secrets` maps each existing Secret's name to its data keys.
 */
export function missingSecretReference(
  refs: readonly FieldSecretRef[],
  secrets: ReadonlyMap<string, ReadonlySet<string>>,
): MissingSecretReference | undefined {
  for (const ref of refs) {
    const missing = unmetSecretRead(
      { name: ref.name, ...(ref.keyOptional === true ? {} : { key: ref.key }) },
      secrets,
      `${ref.object}: ${ref.field} names`,
    );
    if (missing !== undefined) return missing;
  }
  return undefined;
}

/**
 * Why a read of Secret `name` (and of its `key`, when given) fails given `secrets`, said as `subject`
 * ("NearlinePipeline jobs: spec.sinks.store.urlSecretRef names") ... `qualifier` ("Secret s<qualifier>,
 * which does not exist"); undefined when the Secret and key exist.
 */
export function unmetSecretRead(
  read: { name: string; key?: string | undefined },
  secrets: ReadonlyMap<string, ReadonlySet<string>>,
  subject: string,
  qualifier = "",
): MissingSecretReference | undefined {
  const keys = secrets.get(read.name);
  if (keys === undefined)
    return {
      reason: "SecretNotFound",
      message: `${subject} Secret ${read.name}${qualifier}, which does not exist`,
    };
  if (read.key !== undefined && !keys.has(read.key))
    return {
      reason: "SecretKeyNotFound",
      message: `${subject} key ${read.key} of Secret ${read.name}${qualifier}, which has no such key`,
    };
  return undefined;
}

/** missingSecretReference's message alone. */
export function missingSecret(
  refs: readonly FieldSecretRef[],
  secrets: ReadonlyMap<string, ReadonlySet<string>>,
): string | undefined {
  return missingSecretReference(refs, secrets)?.message;
}

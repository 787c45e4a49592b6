// The parts of a worker config that `jude nearline` and `jude bootstrap` share, rendered from the
// NearlinePipeline, the EmbeddingModel and one live version. Secrets are wired through SecretWiring,
// so the config holds only environment variable names and file paths.
import type { z } from "zod";
import type { NearlinePipeline } from "../../crds/index.ts";
import type {
  decodeSection,
  embeddingSection,
  kafkaConnection,
  modelSection,
  storeSection,
} from "../../pipelines/shared/config-common.ts";
import { defaultMaxInputsPerCall } from "../../serving/config.ts";
import type { LiveVersion } from "./live-versions.ts";
import type { SecretWiring } from "../shared/secret-wiring.ts";
import { servingCaKey } from "./secret-refs.ts";

/** The key names of each Secret as read (Secret name -> keys). */
export type SecretKeyNames = ReadonlyMap<string, ReadonlySet<string>>;

/** Environment variables the rendered configs name; the pod maps each to a secretKeyRef. */
export const secretEnv = {
  storeUrl: "JUDE_STORE_URL",
  kafkaUsername: "JUDE_KAFKA_SASL_USERNAME",
  kafkaPassword: "JUDE_KAFKA_SASL_PASSWORD",
} as const;

/** Volumes the pod mounts Secret keys from, one per key (SecretWiring.fileFrom). */
export const secretVolume = {
  kafkaCa: "kafka-ca",
  kafkaCert: "kafka-cert",
  kafkaKey: "kafka-key",
  servingCa: "serving-ca",
  servingToken: "serving-token",
} as const;

/**
 * The model section: version, digest, dimensions, vector settings and the entity's prompt template. Throws when the
 * version has no prompt for the entity (the pipeline's status decision reports that as Stalled first).
 */
export function modelConfig(version: LiveVersion, entity: string): z.input<typeof modelSection> {
  const template = version.prompts[entity];
  if (template === undefined)
    throw new Error(`embedding version ${version.version} has no prompt template for entity ${entity}`);
  return {
    version: version.version,
    digest: version.modelDigest,
    dimensions: version.dimensions,
    template,
    ...(version.vectorSettings !== undefined ? { vectorSettings: { ...version.vectorSettings } } : {}),
  };
}

/** Kafka connection (brokers, TLS files, SASL from env) of the pipeline's changelog cluster. */
export function kafkaConnectionConfig(
  pipeline: NearlinePipeline,
  wiring: SecretWiring,
): z.input<typeof kafkaConnection> {
  const kafka = pipeline.spec.source.kafka;
  const connection: z.input<typeof kafkaConnection> = { bootstrapServers: [...kafka.bootstrapServers] };
  if (kafka.tls !== undefined) {
    const tls: NonNullable<z.input<typeof kafkaConnection>["tls"]> = {};
    if (kafka.tls.caSecretRef) tls.caFile = wiring.fileFrom(secretVolume.kafkaCa, kafka.tls.caSecretRef);
    if (kafka.tls.certSecretRef)
      tls.certFile = wiring.fileFrom(secretVolume.kafkaCert, kafka.tls.certSecretRef);
    if (kafka.tls.keySecretRef) tls.keyFile = wiring.fileFrom(secretVolume.kafkaKey, kafka.tls.keySecretRef);
    connection.tls = tls;
  }
  if (kafka.sasl !== undefined) {
    connection.sasl = {
      mechanism: kafka.sasl.mechanism,
      username: wiring.envFrom(secretEnv.kafkaUsername, kafka.sasl.usernameSecretRef),
      password: wiring.envFrom(secretEnv.kafkaPassword, kafka.sasl.passwordSecretRef),
    };
  }
  return connection;
}

/** Decode rules, copied field by field (the CRD and the worker share the grammar). */
export function decodeConfig(pipeline: NearlinePipeline): z.input<typeof decodeSection> {
  const decode = pipeline.spec.decode;
  return {
    format: decode.format,
    ...(decode.keyPath !== undefined ? { keyPath: decode.keyPath } : {}),
    ...(decode.recordKeyPath !== undefined ? { recordKeyPath: decode.recordKeyPath } : {}),
    ...(decode.eventTimePath !== undefined ? { eventTimePath: decode.eventTimePath } : {}),
    maxEventTimeAheadSeconds: decode.maxEventTimeAheadSeconds,
    ...(decode.delete !== undefined
      ? { delete: { path: decode.delete.path, values: [...decode.delete.values] } }
      : {}),
  };
}

/**
 * The version's embedding server: endpoint, TLS CA and bearer token as the version is served. The TLS
 * Secret's ca.crt is mounted as the CA file when `secretKeys` shows the Secret has one (or the Secret
 * was not read); without one (a certificate from a CA the system roots hold, as `kubectl create secret
 * tls` or an ACME issuer writes it) no CA file is named and the client trusts the system roots, as the
 * operator's parity check does. Adding or removing ca.crt changes the config, so the pods roll.
 */
export function embeddingConfig(
  pipeline: NearlinePipeline,
  version: LiveVersion,
  wiring: SecretWiring,
  secretKeys?: SecretKeyNames,
): z.input<typeof embeddingSection> {
  const serving = version.serving;
  const tls = serving.tls;
  const hasCa = tls !== undefined && (secretKeys?.get(tls.secretName)?.has(servingCaKey) ?? true);
  return {
    endpoint: version.endpoint,
    ...(tls !== undefined
      ? {
          tls: hasCa
            ? { caFile: wiring.fileFrom(secretVolume.servingCa, { name: tls.secretName, key: servingCaKey }) }
            : {},
        }
      : {}),
    ...(serving.auth !== undefined
      ? // A file, not a variable: the kubelet rewrites it when the Secret is rotated, and the worker
        // reads it again when the server refuses the token it holds (pipelines/shared/token-refusals.ts).
        {
          token: {
            file: wiring.fileFrom(secretVolume.servingToken, serving.auth.tokenSecretRef, {
              readAgain: true,
            }),
          },
        }
      : {}),
    // No larger than one call the model's servers take: a larger one is refused whole (TOO_MANY_INPUTS).
    maxBatchSize: Math.min(
      pipeline.spec.workers.maxBatchSize,
      defaultMaxInputsPerCall(serving.batching.maxConcurrentRequests),
    ),
    maxInflight: pipeline.spec.workers.maxInflight,
  };
}

/**
 * The versioned store: its name, its URL (or Cluster seed list) from the referenced Secret, whether it is a
 * Redis Cluster, and the durability offset commits
 * (and bootstrap checkpoints, which share this section) wait for.
 */
export function storeConfig(pipeline: NearlinePipeline, wiring: SecretWiring): z.input<typeof storeSection> {
  const store = pipeline.spec.sinks.store;
  return {
    name: store.name,
    url: wiring.envFrom(secretEnv.storeUrl, store.urlSecretRef),
    // Only when set: a config rendered before the field existed stays byte for byte the same, so an
    // operator upgrade rolls no workers.
    ...(store.cluster === true ? { cluster: true } : {}),
    ...(store.durability !== undefined ? { durability: { ...store.durability } } : {}),
  };
}

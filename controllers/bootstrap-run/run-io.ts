// What the BootstrapRun reconcile reads outside the API server: the changelog's end offsets when a
// run starts (pipelines/bootstrap/kafka-range.ts), the registry entry of the version it fills (what
// made its vectors so far) and the shards' checkpoints in the store
// (pipelines/bootstrap/checkpoint-store.ts). Credentials come from the Secrets the pipeline references.
// The Kafka client is loaded on the first capture: it is a large module (~40 MB resident) that an
// operator running no BootstrapRun never needs.
import type { NearlinePipeline } from "../../crds/index.ts";
import { readRunCheckpoints } from "../../pipelines/bootstrap/checkpoint-store.ts";
import type { CheckpointState } from "../../pipelines/bootstrap/checkpoint-codec.ts";
import type { PartitionWatermark } from "../../pipelines/bootstrap/config.ts";
import { someError } from "../../pipelines/shared/errors.ts";
import { kafkaRefusal } from "../../pipelines/shared/kafka-refusal.ts";
import {
  connectRedis,
  controlKeys,
  createLayout,
  defaultPrefix,
  parseVersionInfo,
  type RedisClient,
  type VersionInfo,
} from "../../store/index.ts";
import type { SecretKeyReference } from "../shared/secret-wiring.ts";
import { operatorClusterConnectAttempts, storeTarget, targetEndpoint } from "../shared/store-target.ts";
import { describeFailure } from "../shared/reconcile-error.ts";
import { untilAborted } from "../../plumbing/until-aborted.ts";
import { secretKeys, type SecretValues } from "../nearline-pipeline/secret-reader.ts";
import { missingSecret } from "../nearline-pipeline/secret-refs.ts";

/**
 * Longest a watermark capture or a checkpoint read may take before the reconcile retries later, unless
 * the operator says otherwise (--external-timeout-seconds).
 */
export const defaultExternalTimeoutMs = 20_000;

function secretValue(secrets: SecretValues, ref: SecretKeyReference): Buffer {
  const values = secrets.get(ref.name);
  if (values === undefined) throw new Error(`Secret ${ref.name} does not exist`);
  const value = values.get(ref.key);
  if (value === undefined) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
  return value;
}

/**
 * Why the pipeline's store cannot be reached for want of its Secret or key, or because the key holds
 * no store URL (empty, or not in the form the store wants): only a person can mend that, so the run is
 * Stalled, as for a deleted pipeline. Names the field; never the value. Undefined when the value is fit.
 */
export function missingStoreSecret(pipeline: NearlinePipeline, secrets: SecretValues): string | undefined {
  const store = pipeline.spec.sinks.store;
  const ref = store.urlSecretRef;
  const object = `NearlinePipeline ${pipeline.metadata.name}`;
  const field = "spec.sinks.store.urlSecretRef";
  const missing = missingSecret([{ object, field, ...ref }], secretKeys(secrets));
  if (missing !== undefined) return missing;
  const value = secrets.get(ref.name)?.get(ref.key)?.toString() ?? "";
  const named = `${object}: ${field} names key ${ref.key} of Secret ${ref.name}`;
  if (value.trim() === "") return `${named}, which is empty`;
  try {
    storeTarget(value, store.cluster === true);
  } catch (error) {
    const holds = store.cluster === true ? "no Redis Cluster seed list" : "no store URL";
    return `${named}, which holds ${holds}: ${describeFailure(error)}`;
  }
  return undefined;
}

/** Kafka client options of the pipeline's cluster, with TLS and SASL material from its Secrets. */
export function kafkaOptions(pipeline: NearlinePipeline, secrets: SecretValues) {
  const kafka = pipeline.spec.source.kafka;
  const tls = kafka.tls;
  return {
    clientId: "jude-operator",
    bootstrapBrokers: [...kafka.bootstrapServers],
    retries: 2,
    retryDelay: 500,
    connectTimeout: 5_000,
    requestTimeout: 10_000,
    ...(tls !== undefined
      ? {
          tls: {
            ...(tls.caSecretRef ? { ca: secretValue(secrets, tls.caSecretRef) } : {}),
            ...(tls.certSecretRef ? { cert: secretValue(secrets, tls.certSecretRef) } : {}),
            ...(tls.keySecretRef ? { key: secretValue(secrets, tls.keySecretRef) } : {}),
          },
        }
      : {}),
    ...(kafka.sasl !== undefined
      ? {
          sasl: {
            mechanism: kafka.sasl.mechanism,
            username: secretValue(secrets, kafka.sasl.usernameSecretRef).toString(),
            password: secretValue(secrets, kafka.sasl.passwordSecretRef).toString(),
          },
        }
      : {}),
  };
}

/**
 * The pipeline's changelog topic does not exist (Kafka answers a describe it refuses with
 * TOPIC_AUTHORIZATION_FAILED, not this): only someone creating it mends that, so callers say so with
 * reason TopicNotFound (topicNotFoundReason) instead of retrying a reconcile. Its message is what they
 * say, naming the pipeline, its field and the brokers: the EmbeddingModel's bootstrap gate and the
 * BootstrapRun alike.
 */
export class ChangelogTopicMissing extends Error {
  readonly topic: string;
  readonly bootstrapServers: readonly string[];

  constructor(
    pipeline: string,
    topic: string,
    bootstrapServers: readonly string[],
    options: { cause: unknown },
  ) {
    super(
      `NearlinePipeline ${pipeline}: spec.source.kafka.topic names topic ${topic}, which does not exist ` +
        `on Kafka at ${bootstrapServers.join(",")}: ` +
        `JUDE never creates topics; create it, and the output and dead-letter topics the pipeline names`,
      options,
    );
    this.topic = topic;
    this.bootstrapServers = bootstrapServers;
  }
}

/**
 * Whether the Kafka client refused a request for want of `topic`: its UserError "Unknown topic T."
 * (the broker's UNKNOWN_TOPIC_OR_PARTITION; the operator's clients never auto-create topics).
 */
function unknownTopic(error: unknown, topic: string): boolean {
  return someError(error, (candidate) => candidate.message === `Unknown topic ${topic}.`);
}

/** The end offset of every partition of the pipeline's changelog now. */
export async function captureWatermarks(
  pipeline: NearlinePipeline,
  secrets: SecretValues,
  signal: AbortSignal,
  externalTimeoutMs: number = defaultExternalTimeoutMs,
): Promise<PartitionWatermark[]> {
  const { KafkaRangeReader } = await import("../../pipelines/bootstrap/kafka-range.ts");
  const { topic, bootstrapServers } = pipeline.spec.source.kafka;
  // The reader retries until the timeout aborts it, so what it ends with says only "aborted": the
  // last error it retried on (an unreachable broker, say) is the cause worth reporting. The reader
  // looks at its signal only between attempts, and one attempt against a broker that accepts but never
  // answers lasts the client's request timeouts and retries (a minute and a half): the capture is
  // abandoned when the signal aborts, and the reader closed under it.
  let retried: unknown;
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(externalTimeoutMs)]);
  const reader = new KafkaRangeReader(kafkaOptions(pipeline, secrets), topic, {
    signal: deadline,
    onRetry: (error) => (retried = error),
  });
  try {
    return await untilAborted(reader.captureWatermarks(), deadline);
  } catch (error) {
    if (!signal.aborted && unknownTopic(error, topic))
      throw new ChangelogTopicMissing(pipeline.metadata.name, topic, bootstrapServers, { cause: error });
    // Refused TLS or SASL settings are not retried: say why in the words of the resource's fields.
    const refusal = kafkaRefusal(error);
    if (refusal !== undefined && !signal.aborted)
      throw new Error(
        `cannot read the end offsets of topic ${topic}: Kafka at ${bootstrapServers.join(",")} refused the operator: ${refusal.reason}`,
        { cause: error },
      );
    if (signal.aborted || (retried === undefined && !deadline.aborted)) throw error;
    const cause =
      retried !== undefined ? describeFailure(retried) : `no answer within ${externalTimeoutMs / 1000} s`;
    throw new Error(
      `cannot read the end offsets of topic ${topic} from ${bootstrapServers.join(",")}: ${cause}`,
      {
        cause: error,
      },
    );
  } finally {
    await reader.close();
  }
}

/** The checkpoints of a run's shards (index -> state or null) from the pipeline's store. */
export async function readCheckpoints(
  pipeline: NearlinePipeline,
  secrets: SecretValues,
  run: { namespace: string; name: string; uid?: string | undefined },
  shards: number,
  externalTimeoutMs: number = defaultExternalTimeoutMs,
): Promise<(CheckpointState | null)[]> {
  return withStoreClient(pipeline, secrets, externalTimeoutMs, (client, prefix) =>
    readRunCheckpoints(client, prefix, run, shards),
  );
}

/** The registry entry of `version` in the pipeline's store (store/versions.ts), or null when none. */
export async function readRegisteredVersion(
  pipeline: NearlinePipeline,
  secrets: SecretValues,
  version: string,
  externalTimeoutMs: number = defaultExternalTimeoutMs,
): Promise<VersionInfo | null> {
  return withStoreClient(pipeline, secrets, externalTimeoutMs, async (client, prefix) => {
    const text = await client.hget(controlKeys(createLayout(prefix)).versions, version);
    return text === null ? null : parseVersionInfo(text);
  });
}

/** Runs `read` on a client of the pipeline's store (its key prefix given), closed afterwards. */
async function withStoreClient<T>(
  pipeline: NearlinePipeline,
  secrets: SecretValues,
  externalTimeoutMs: number,
  read: (client: RedisClient, prefix: string) => Promise<T>,
): Promise<T> {
  const store = pipeline.spec.sinks.store;
  const target = storeTarget(secretValue(secrets, store.urlSecretRef).toString(), store.cluster === true);
  // ioredis' own error says only that it gave up retrying: the store and the connection's error say why.
  let connectionError: Error | undefined;
  const client = connectRedis(target, {
    connectionName: "jude-operator-bootstrap-run",
    commandTimeoutMs: externalTimeoutMs,
    maxRetriesPerRequest: 1,
    clusterConnectAttempts: operatorClusterConnectAttempts,
    onConnectionError: (error) => (connectionError = error),
  });
  try {
    return await read(client, defaultPrefix(store.name)).catch((error: unknown) => {
      throw connectionError === undefined
        ? error
        : new Error(`store "${store.name}" at ${targetEndpoint(target)} is unreachable`, {
            cause: connectionError,
          });
    });
  } finally {
    client.disconnect();
  }
}

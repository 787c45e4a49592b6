/** Kafka client options from a pipeline config: brokers, TLS files and SASL credentials from Secrets. */
import { readFileSync } from "node:fs";
import { Admin, ConfigResourceTypes, type ConnectionOptions } from "@platformatic/kafka";
import { PipelineError, PipelineErrorCodes, someError } from "./errors.ts";
import { kafkaRefusal } from "./kafka-refusal.ts";
import { readSecret, type KafkaConnection } from "./config-common.ts";

/** Connection options shared by consumers, producers and admin clients of one pipeline. */
export function kafkaClientOptions(
  connection: KafkaConnection,
  clientId: string,
): ConnectionOptions & {
  clientId: string;
  bootstrapBrokers: string[];
  retries: number;
  retryDelay: number;
} {
  const options: ConnectionOptions & {
    clientId: string;
    bootstrapBrokers: string[];
    retries: number;
    retryDelay: number;
  } = {
    clientId,
    bootstrapBrokers: connection.bootstrapServers,
    // The library retries each request a few times; the worker retries whole batches on top of that,
    // so a broker restart only pauses the pipeline.
    retries: 5,
    retryDelay: 500,
    connectTimeout: 5_000,
    requestTimeout: 30_000,
  };
  if (connection.tls !== undefined) {
    const { caFile, certFile, keyFile } = connection.tls;
    options.tls = {
      ...(caFile !== undefined ? { ca: readFileSync(caFile) } : {}),
      ...(certFile !== undefined ? { cert: readFileSync(certFile) } : {}),
      ...(keyFile !== undefined ? { key: readFileSync(keyFile) } : {}),
    };
  }
  if (connection.sasl !== undefined) {
    options.sasl = {
      mechanism: connection.sasl.mechanism,
      username: readSecret(connection.sasl.username, "Kafka SASL username"),
      password: readSecret(connection.sasl.password, "Kafka SASL password"),
    };
  }
  return options;
}

/** Codes of a broker that could not be reached or did not answer in time. */
const unreachable = /^(PLT_KFK_NETWORK|PLT_KFK_TIMEOUT|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT)/;

/**
 * Errors from the Kafka client that a retry can cure (network, leadership, coordinator moves). A
 * broker's refusal of the credentials or an untrusted certificate is not one, although the client
 * wraps it in a retryable network error: the worker exits and its restart reads the Secret again.
 */
export function isRetryableKafkaError(error: unknown): boolean {
  if (kafkaRefusal(error)?.final === true) return false;
  return someError(
    error,
    (candidate) =>
      candidate.canRetry === true || (typeof candidate.code === "string" && unreachable.test(candidate.code)),
  );
}

/**
 * Answers of brokers that are up but not serving yet: leaders still being elected, the group's
 * coordinator not elected or still loading its offsets (a broker just restarted). The client retries
 * them only a few times (seconds), which a cluster coming back can outlast.
 */
const notServingYet =
  /^(COORDINATOR_LOAD_IN_PROGRESS|COORDINATOR_NOT_AVAILABLE|NOT_COORDINATOR|LEADER_NOT_AVAILABLE|NOT_LEADER_OR_FOLLOWER)$/;

/**
 * The brokers could not be reached (refused, reset, timed out) or do not serve yet (see
 * notServingYet): what a worker waits out as it starts (brokers restarting, a network not up yet).
 * Narrower than {@link isRetryableKafkaError}: a broker that answers with a refusal (KAFKA_REFUSED,
 * even one a broker restart could explain), a missing topic (TOPIC_MISSING, the client's "Unknown
 * topic") or any other answer fails the start at once with its own message.
 */
export function isKafkaOutage(error: unknown): boolean {
  return (
    !(error instanceof PipelineError) &&
    kafkaRefusal(error) === undefined &&
    someError(
      error,
      (candidate) =>
        (typeof candidate.code === "string" && unreachable.test(candidate.code)) ||
        (typeof candidate.apiId === "string" && notServingYet.test(candidate.apiId)),
    )
  );
}

/**
 * The group rebalanced under the consumer (the broker's REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
 * UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID...): the client flags these `needsRejoin`.
 */
export function isRebalanceError(error: unknown): boolean {
  return someError(error, (candidate) => candidate.needsRejoin === true);
}

/** A topic a worker reads or writes, and what the config calls it (for the error). */
export interface NamedTopic {
  topic: string;
  role: string;
  /**
   * Refuse it when compacted (`cleanup.policy` with `compact`): the dead-letter topic, whose records
   * keep their original key, which may be none (the broker refuses a keyless record on a compacted
   * topic, so the worker could not pass the record), and of which compaction would keep one per key.
   */
  notCompacted?: boolean;
}

/**
 * Fails with TOPIC_MISSING, naming each of `topics` the cluster lacks. The workers never create
 * topics (their clients ask for metadata without auto-creation, whatever the broker allows), so a
 * missing dead-letter or output topic would otherwise surface only at the first record sent there,
 * perhaps days later, as the client's "Unknown topic" with the worker's whole batch stuck behind it.
 */
export async function requireTopics(
  clientOptions: ReturnType<typeof kafkaClientOptions>,
  topics: readonly NamedTopic[],
): Promise<void> {
  const admin = new Admin({ ...clientOptions, clientId: `${clientOptions.clientId}-admin` });
  try {
    const existing = new Set(
      await admin.listTopics().catch((error: unknown) => {
        // The first call to the brokers: a refusal of this worker's TLS or SASL settings says so.
        const refusal = kafkaRefusal(error);
        if (refusal === undefined) throw error;
        throw new PipelineError(
          PipelineErrorCodes.KAFKA_REFUSED,
          `Kafka at ${clientOptions.bootstrapBrokers.join(",")} refused this worker: ${refusal.reason}`,
          { cause: error },
        );
      }),
    );
    const missing = topics.filter(({ topic }) => !existing.has(topic));
    if (missing.length === 0) {
      await refuseCompacted(
        admin,
        topics.filter((each) => each.notCompacted === true),
      );
      return;
    }
    throw new PipelineError(
      PipelineErrorCodes.TOPIC_MISSING,
      `${missing.map(({ topic, role }) => `the ${role} ${topic}`).join(" and ")} ` +
        `${missing.length === 1 ? "does" : "do"} not exist, or this worker's Kafka user may not describe ` +
        `${missing.length === 1 ? "it" : "them"}: JUDE never creates topics; create ` +
        `${missing.length === 1 ? "it" : "them"} (partitions, retention and size limits as your cluster's policy asks)`,
    );
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * Fails with TOPIC_UNSUITABLE when one of `topics` is compacted. A worker whose Kafka user may not
 * describe topic configs (or a broker that does not answer that) is not stopped: it goes on unchecked.
 */
async function refuseCompacted(admin: Admin, topics: readonly NamedTopic[]): Promise<void> {
  if (topics.length === 0) return;
  const described = await admin
    .describeConfigs({
      resources: topics.map(({ topic }) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic,
        configurationKeys: ["cleanup.policy"],
      })),
    })
    .catch(() => []);
  const compacted = topics.filter(({ topic }) =>
    described
      .find((each) => each.resourceName === topic)
      ?.configs.some((config) => config.name === "cleanup.policy" && /\bcompact\b/.test(config.value ?? "")),
  );
  if (compacted.length === 0) return;
  throw new PipelineError(
    PipelineErrorCodes.TOPIC_UNSUITABLE,
    `${compacted.map(({ topic, role }) => `the ${role} ${topic}`).join(" and ")} ` +
      `${compacted.length === 1 ? "is" : "are"} compacted (cleanup.policy compact): a dead letter keeps the ` +
      `original record's key, the broker refuses one without a key on a compacted topic (the worker could ` +
      `not pass that record), and compaction keeps only the last dead letter of each key; set ` +
      `cleanup.policy=delete (retention as your cluster's policy asks)`,
  );
}

/**
 * Kafka authentication against a real broker: the testbed's SASL_SSL listener (its own CA) with
 * SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN over TLS. A worker with the credentials in files (as the
 * operator mounts them from Secrets) consumes, embeds and writes; wrong credentials or a missing CA
 * stop the worker with an error that says so, not "Cannot connect to any broker".
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { connectRedis, openStore, type RedisClient } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createTopics, produceEvents, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  nearlineConfig,
  startInProcessNearline,
} from "../../support/nearline.ts";
import { waitFor } from "../../testbed/wait.ts";
import { captureWatermarks } from "../../../controllers/bootstrap-run/run-io.ts";
import type { SecretValues } from "../../../controllers/nearline-pipeline/secret-reader.ts";
import { describeFailure } from "../../../controllers/shared/reconcile-error.ts";
import { terminationSummary } from "../../../controllers/shared/termination-message.ts";
import type { NearlinePipeline } from "../../../crds/index.ts";
import { isPipelineError, PipelineErrorCodes } from "../../../pipelines/shared/errors.ts";

const version = "minilm-sasl";
const secrets = mkdtempSync(join(tmpdir(), "jude-kafka-sasl-"));
let embedding: TestEmbeddingServer;
let redis: RedisClient;

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version);
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterAll(async () => {
  await redis?.quit();
  await embedding?.server.close();
});

/** A file holding `value`, as a mounted Secret key would. */
function secretFile(name: string, value: string): string {
  const file = join(secrets, name);
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return file;
}

/** A job worker's config on `topic`, reading through the SASL_SSL listener. */
function saslConfig(
  topic: string,
  sasl: { mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"; password: string },
  /** null: no TLS at all; {}: TLS trusting the system roots. */
  tls: { caFile?: string } | null = { caFile: requireEnv("JUDE_KAFKA_CA_FILE") },
): NearlineConfig {
  const config = nearlineConfig({
    topic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  return {
    ...config,
    source: {
      kafka: {
        ...config.source.kafka,
        bootstrapServers: [requireEnv("JUDE_KAFKA_SASL_SSL_BOOTSTRAP")],
        ...(tls !== null ? { tls } : {}),
        sasl: {
          mechanism: sasl.mechanism,
          username: { file: secretFile(`${topic}-username`, requireEnv("JUDE_KAFKA_SASL_USERNAME")) },
          password: { file: secretFile(`${topic}-password`, sasl.password) },
        },
      },
    },
  };
}

describe.each(["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] as const)(
  "a worker authenticating with %s over TLS",
  (mechanism) => {
    it("consumes its changelog and writes the embeddings", async () => {
      const topic = uniqueTopic(`sasl-${mechanism.toLowerCase()}`);
      await createTopics([topic], 1);
      const config = saslConfig(topic, { mechanism, password: requireEnv("JUDE_KAFKA_SASL_PASSWORD") });
      const { app, closeConnection } = await startInProcessNearline(config);
      try {
        const events: TestEvent[] = [
          jobEvent("j1", 1_000, { title: "Data engineer", company: "Acme", skills: ["kafka"] }),
          jobEvent("j2", 1_001, { title: "Nurse", company: "City hospital", skills: ["care"] }),
        ];
        await produceEvents(topic, events);
        await waitFor("both events embedded", () => app.worker.totals.embedded >= 2, { timeoutMs: 60_000 });
        const store = await openStore(redis, { name: config.sinks.store.name });
        await expectStoreMatches(store, version, expectedFinalState(events, version));
      } finally {
        await app.stop();
        closeConnection();
      }
    });
  },
);

describe("a worker the brokers refuse", () => {
  it.each([
    [
      "a wrong password",
      { password: "not-the-password" },
      undefined,
      /refused the SASL login \(Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512\): check the Secret keys sasl.usernameSecretRef\/passwordSecretRef/,
    ],
    [
      "the system trust roots for a broker signed by a private CA",
      {},
      {},
      /the broker's TLS certificate does not verify \(unable to verify the first certificate.*\): give tls.caSecretRef the CA that signed it/,
    ],
    [
      "no TLS on a TLS listener",
      {},
      null,
      /the broker closed the connection during the SASL handshake: a TLS listener spoken to without tls does that/,
    ],
  ] as const)("with %s stops at start with KAFKA_REFUSED, saying why", async (_case, override, tls, says) => {
    const topic = uniqueTopic("sasl-refused");
    await createTopics([topic], 1);
    const config = saslConfig(
      topic,
      { mechanism: "SCRAM-SHA-512", password: requireEnv("JUDE_KAFKA_SASL_PASSWORD"), ...override },
      tls,
    );
    const error = await startInProcessNearline(config).then(
      async ({ app, closeConnection }) => {
        await app.stop();
        closeConnection();
        return undefined;
      },
      (reason: unknown) => reason,
    );
    expect(isPipelineError(error, PipelineErrorCodes.KAFKA_REFUSED)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(says);
    expect(message).toContain(`Kafka at ${requireEnv("JUDE_KAFKA_SASL_SSL_BOOTSTRAP")} refused this worker`);
    expect(message).not.toContain(requireEnv("JUDE_KAFKA_SASL_PASSWORD"));
    // What the operator shows of the worker's exit: its last error line, one line, under its limit.
    const shown = terminationSummary(
      JSON.stringify({ level: 50, msg: "nearline worker failed to start", err: { message } }),
    );
    expect(shown).toMatch(says);
  });
});

describe("the operator reading the changelog through the SASL_SSL listener", () => {
  /** A pipeline whose Kafka settings reference Secrets, and those Secrets' values as the operator reads them. */
  function pipelineWith(topic: string, password: string) {
    const pipeline = {
      metadata: { namespace: "sasl", name: "jobs" },
      spec: {
        source: {
          kafka: {
            bootstrapServers: [requireEnv("JUDE_KAFKA_SASL_SSL_BOOTSTRAP")],
            topic,
            tls: { caSecretRef: { name: "kafka-ca", key: "ca.crt" } },
            sasl: {
              mechanism: "SCRAM-SHA-512",
              usernameSecretRef: { name: "kafka-user", key: "username" },
              passwordSecretRef: { name: "kafka-user", key: "password" },
            },
          },
        },
      },
    } as unknown as NearlinePipeline;
    const secrets: SecretValues = new Map([
      ["kafka-ca", new Map([["ca.crt", readFileSync(requireEnv("JUDE_KAFKA_CA_FILE"))]])],
      [
        "kafka-user",
        new Map([
          ["username", Buffer.from(requireEnv("JUDE_KAFKA_SASL_USERNAME"))],
          ["password", Buffer.from(password)],
        ]),
      ],
    ]);
    return { pipeline, secrets };
  }

  it("captures a BootstrapRun's watermarks with the pipeline's credentials", async () => {
    const topic = uniqueTopic("sasl-watermarks");
    await createTopics([topic], 2);
    await produceEvents(topic, [jobEvent("j1", 1, { title: "a" }), jobEvent("j2", 2, { title: "b" })]);
    const { pipeline, secrets } = pipelineWith(topic, requireEnv("JUDE_KAFKA_SASL_PASSWORD"));
    const watermarks = await captureWatermarks(pipeline, secrets, new AbortController().signal);
    expect(watermarks.map((mark) => mark.partition).sort()).toEqual([0, 1]);
    expect(watermarks.reduce((sum, mark) => sum + Number(mark.offset), 0)).toBe(2);
  });

  it("says the login was refused, at once, instead of retrying until its 20 s bound", async () => {
    const topic = uniqueTopic("sasl-watermarks-refused");
    await createTopics([topic], 1);
    const { pipeline, secrets } = pipelineWith(topic, "not-the-password");
    const refusal = await captureWatermarks(pipeline, secrets, new AbortController().signal).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refusal?.message).toMatch(
      new RegExp(
        `^cannot read the end offsets of topic ${topic}: Kafka at ${requireEnv("JUDE_KAFKA_SASL_SSL_BOOTSTRAP")} refused the operator: the broker refused the SASL login \\(Authentication failed`,
      ),
    );
    expect(describeFailure(refusal)).not.toContain("not-the-password");
  });
});

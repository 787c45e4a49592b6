import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Component, ComponentState } from "../component.ts";
import { buildScripts, cacheDir, stateDir, versions } from "../paths.ts";
import { freePort, isListening } from "../ports.ts";
import { isAlive, startDaemon, stopDaemon } from "../process.ts";
import { buildLog, ensureCached, runStep, TestbedStepError } from "../step.ts";
import { waitFor } from "../wait.ts";

function libsDir(): string {
  return process.env.JUDE_KAFKA_LIBS ?? join(cacheDir(), `kafka-${versions.kafka}`, "libs");
}

const dir = (): string => join(stateDir(), "kafka");
const logFile = (): string => join(stateDir(), "logs", "kafka.log");

interface KafkaDetails {
  port: number;
  controllerPort: number;
  /** A SASL_SSL listener (SCRAM-SHA-256/512 and PLAIN over TLS) for the workers' authentication paths. */
  saslPort: number;
  saslUsername: string;
  saslPassword: string;
}

/** The CA that signed the SASL_SSL listener's certificate (PEM), for clients' `tls.caFile`. */
const caFile = (): string => join(dir(), "tls", "ca.crt");

/**
 * Apache Kafka, one KRaft node acting as broker and controller, run from the jars Maven Central
 * serves (no distribution tarball needed). `JUDE_TESTBED_KAFKA_BOOTSTRAP` uses an existing broker instead.
 * Besides the plaintext listener the tests use, a SASL_SSL listener on the same broker authenticates
 * one user with SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN over TLS (its own CA), so the workers' and
 * the operator's Kafka authentication runs against a real broker.
 */
export const kafka: Component = {
  name: "kafka",
  requires: [],
  overrides: {
    JUDE_TESTBED_KAFKA_BOOTSTRAP: "use an existing Kafka (host:port); nothing is fetched or started",
    JUDE_KAFKA_LIBS: "folder of Kafka broker jars (e.g. a distribution's libs/)",
  },

  provisionSteps() {
    if (process.env.JUDE_TESTBED_KAFKA_BOOTSTRAP !== undefined) return [];
    if (process.env.JUDE_KAFKA_LIBS !== undefined) {
      if (!existsSync(libsDir()))
        throw new TestbedStepError("kafka override", `JUDE_KAFKA_LIBS ${libsDir()} does not exist`);
      return [];
    }
    const entry = `kafka-${versions.kafka}`;
    const isComplete = (): boolean =>
      existsSync(libsDir()) &&
      readdirSync(libsDir()).some((file) => file.startsWith(`kafka_2.13-${versions.kafka}`));
    if (isComplete()) return [];
    return [
      {
        name: `fetch ${entry} jars`,
        lane: "net",
        run: () =>
          ensureCached(entry, isComplete, () =>
            runStep(
              "fetch kafka jars",
              "mvn",
              [
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                `-Dkafka.version=${versions.kafka}`,
                `-DoutputDirectory=${libsDir()}`,
              ],
              { logFile: buildLog(entry), cwd: join(buildScripts, "kafka") },
            ),
          ),
      },
    ];
  },

  async start(previous) {
    const external = previous === undefined ? process.env.JUDE_TESTBED_KAFKA_BOOTSTRAP : undefined;
    if (external !== undefined)
      return { pids: [], external: true, env: { JUDE_KAFKA_BOOTSTRAP: external }, details: {} };
    // State from before the SASL_SSL listener existed starts fresh (its storage lacks the SCRAM user).
    const prior = (previous?.details as Partial<KafkaDetails> | undefined)?.saslPort
      ? (previous?.details as unknown as KafkaDetails)
      : undefined;
    const details: KafkaDetails = prior ?? {
      port: await freePort(),
      controllerPort: await freePort(),
      saslPort: await freePort(),
      saslUsername: "jude-testbed",
      saslPassword: randomBytes(18).toString("base64url"),
    };
    if (prior === undefined) {
      rmSync(dir(), { recursive: true, force: true });
      mkdirSync(dir(), { recursive: true });
      await writeTlsFiles();
      writeConfig(details);
      await runStep(
        "format kafka storage",
        "java",
        [
          ...jvmArgs(),
          "kafka.tools.StorageTool",
          "format",
          // One argument with `=`: a base64url id may start with '-', which argparse takes for a flag.
          `--cluster-id=${clusterId()}`,
          "-c",
          join(dir(), "server.properties"),
          "--ignore-formatted",
          ...["SCRAM-SHA-256", "SCRAM-SHA-512"].flatMap((mechanism) => [
            "--add-scram",
            `${mechanism}=[name=${details.saslUsername},password=${details.saslPassword}]`,
          ]),
        ],
        { logFile: logFile() },
      );
    }
    const startOffset = existsSync(logFile()) ? readFileSync(logFile()).length : 0;
    const pid = startDaemon("java", [...jvmArgs(), "kafka.Kafka", join(dir(), "server.properties")], {
      logFile: logFile(),
    });
    const state: ComponentState = {
      pids: [pid],
      external: false,
      env: {
        JUDE_KAFKA_BOOTSTRAP: `127.0.0.1:${details.port}`,
        JUDE_KAFKA_SASL_SSL_BOOTSTRAP: `127.0.0.1:${details.saslPort}`,
        JUDE_KAFKA_SASL_USERNAME: details.saslUsername,
        JUDE_KAFKA_SASL_PASSWORD: details.saslPassword,
        JUDE_KAFKA_CA_FILE: caFile(),
      },
      details: { ...details },
    };
    try {
      await waitFor(
        "Kafka broker start",
        () => {
          if (!isAlive(pid)) throw new Error("the broker exited");
          return readFileSync(logFile()).subarray(startOffset).includes("Kafka Server started");
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      await waitFor("Kafka listener", () => isListening(details.port));
      await waitFor("Kafka SASL_SSL listener", () => isListening(details.saslPort));
    } catch (error) {
      await stopDaemon(pid);
      throw new TestbedStepError("start kafka", String(error), logFile(), { cause: error });
    }
    return state;
  },

  async isReady(state) {
    if (state.external) return true;
    const details = state.details as Partial<KafkaDetails>;
    return (
      details.saslPort !== undefined &&
      state.pids.every(isAlive) &&
      (await isListening(details.port!)) &&
      (await isListening(details.saslPort))
    );
  },

  async stop(state) {
    // A broker shuts down cleanly on SIGTERM in a few seconds; give it time before SIGKILL.
    for (const pid of state.pids) await stopDaemon(pid, 30_000);
  },
};

function jvmArgs(): string[] {
  return [
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${join(dir(), "log4j2.properties")}`,
    "-cp",
    `${libsDir()}/*`,
  ];
}

/** A KRaft cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` prints). */
function clusterId(): string {
  return randomBytes(16).toString("base64url");
}

const scramLogin = "org.apache.kafka.common.security.scram.ScramLoginModule required";

/** A CA and the broker's certificate for 127.0.0.1/localhost; the keystore is key + chain in one PEM. */
async function writeTlsFiles(): Promise<void> {
  const tls = join(dir(), "tls");
  mkdirSync(tls, { recursive: true });
  const openssl = (step: string, args: string[]): Promise<void> =>
    runStep(`kafka tls: ${step}`, "openssl", args, { logFile: logFile(), cwd: tls });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  writeFileSync(
    join(tls, "broker.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await openssl("CA", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=jude-testbed-kafka-ca",
  ]);
  await openssl("broker CSR", [
    "req",
    ...ec,
    "-keyout",
    "broker.key",
    "-out",
    "broker.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await openssl("broker cert", [
    "x509",
    "-req",
    "-in",
    "broker.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "broker.crt",
    "-days",
    "3650",
    "-extfile",
    "broker.ext",
  ]);
  // Kafka's PEM keystore wants an unencrypted PKCS#8 key followed by the certificate chain.
  await openssl("broker key to PKCS#8", [
    "pkcs8",
    "-topk8",
    "-nocrypt",
    "-in",
    "broker.key",
    "-out",
    "broker.pk8",
  ]);
  writeFileSync(
    join(tls, "broker.pem"),
    readFileSync(join(tls, "broker.pk8"), "utf8") + readFileSync(join(tls, "broker.crt"), "utf8"),
  );
}

function writeConfig(details: KafkaDetails): void {
  const properties = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.voters": `1@127.0.0.1:${details.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${details.port},SASL_SSL://127.0.0.1:${details.saslPort},CONTROLLER://127.0.0.1:${details.controllerPort}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${details.port},SASL_SSL://127.0.0.1:${details.saslPort}`,
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
    "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
    "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": `${scramLogin};`,
    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": `${scramLogin};`,
    // PLAIN checks against the JAAS user list; SCRAM against the credentials `format` stored.
    "listener.name.sasl_ssl.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required user_${details.saslUsername}="${details.saslPassword}";`,
    "ssl.keystore.type": "PEM",
    "ssl.keystore.location": join(dir(), "tls", "broker.pem"),
    "inter.broker.listener.name": "PLAINTEXT",
    "log.dirs": join(dir(), "data"),
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "10",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
  };
  writeFileSync(
    join(dir(), "server.properties"),
    Object.entries(properties)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n") + "\n",
  );
  writeFileSync(
    join(dir(), "log4j2.properties"),
    [
      "rootLogger.level = INFO",
      "rootLogger.appenderRef.stdout.ref = STDOUT",
      "appender.stdout.type = Console",
      "appender.stdout.name = STDOUT",
      "appender.stdout.layout.type = PatternLayout",
      "appender.stdout.layout.pattern = [%d] %p %m (%c)%n",
      "logger.org.name = org.apache.kafka",
      "logger.org.level = WARN",
      "",
    ].join("\n"),
  );
}

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
}

/**
 * Apache Kafka, one KRaft node acting as broker and controller, run from the jars Maven Central
 * serves (no distribution tarball needed). `JUDE_TESTBED_KAFKA_BOOTSTRAP` uses an existing broker instead.
 */
export const kafka: Component = {
  name: "kafka",
  requires: [],
  overrides: {
    JUDE_TESTBED_KAFKA_BOOTSTRAP: "use an existing Kafka (host:port); nothing is fetched or started",
    JUDE_KAFKA_LIBS: "folder of Kafka broker jars (e.g. a distribution's libs/)",
  },

  async provision() {
    if (process.env.JUDE_TESTBED_KAFKA_BOOTSTRAP !== undefined) return;
    if (process.env.JUDE_KAFKA_LIBS !== undefined) {
      if (!existsSync(libsDir()))
        throw new TestbedStepError("kafka override", `JUDE_KAFKA_LIBS ${libsDir()} does not exist`);
      return;
    }
    await ensureCached(
      `kafka-${versions.kafka}`,
      () =>
        existsSync(libsDir()) &&
        readdirSync(libsDir()).some((file) => file.startsWith(`kafka_2.13-${versions.kafka}`)),
      () =>
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
          { logFile: buildLog(`kafka-${versions.kafka}`), cwd: join(buildScripts, "kafka") },
        ),
    );
  },

  async start(previous) {
    const external = previous === undefined ? process.env.JUDE_TESTBED_KAFKA_BOOTSTRAP : undefined;
    if (external !== undefined)
      return { pids: [], external: true, env: { JUDE_KAFKA_BOOTSTRAP: external }, details: {} };
    const prior = previous?.details as KafkaDetails | undefined;
    const details: KafkaDetails = prior ?? { port: await freePort(), controllerPort: await freePort() };
    if (prior === undefined) {
      rmSync(dir(), { recursive: true, force: true });
      mkdirSync(dir(), { recursive: true });
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
      env: { JUDE_KAFKA_BOOTSTRAP: `127.0.0.1:${details.port}` },
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
    } catch (error) {
      await stopDaemon(pid);
      throw new TestbedStepError("start kafka", String(error), logFile(), { cause: error });
    }
    return state;
  },

  async isReady(state) {
    if (state.external) return true;
    return state.pids.every(isAlive) && (await isListening((state.details as unknown as KafkaDetails).port));
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

function writeConfig(details: KafkaDetails): void {
  const properties = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.voters": `1@127.0.0.1:${details.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${details.port},CONTROLLER://127.0.0.1:${details.controllerPort}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${details.port}`,
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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

/**
 * Secrets stay in Secrets, end to end on the local nodes: the store URL carries a password (a Redis ACL
 * user of its own) and the serving endpoint a bearer token, both with distinctive values; `jude
 * operator` (a real process) serves v1, bootstraps it with a BootstrapRun and promotes it, and then
 * neither value may show anywhere but in the Secrets: not in the operator's log, the containers' logs,
 * Events, any status, ConfigMap or pod spec, the operator's or the pods' /metrics, or `kubectl jude
 * status`; and every container of every pod runs restricted. Then the error paths: pipelines whose
 * store Secret holds a wrong password, a URL with an unencoded '#' in its password, or (a model of its
 * own) an unreachable host, and pipelines whose Kafka SASL login the broker refuses or whose client
 * key is not PEM, each with a BootstrapRun the operator starts: their failures are reported, and again
 * without the values. The Redis user is removed again at the end.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, openStore, type RedisClient } from "../../store/index.ts";
import { condition, getObject, type Json } from "../integration/operator/operator-harness.ts";
import { requireEnv } from "../support/env.ts";
import { createTopics, produceEvents, uniqueTopic } from "../support/kafka.ts";
import { kubectl } from "../support/kubectl.ts";
import { startJudeOperator, stopJude, type JudeProcess } from "../support/processes.ts";
import { repoRoot, stateDir } from "../testbed/paths.ts";
import { waitFor } from "../testbed/wait.ts";
import { applyAll, createE2eNamespace } from "./support/namespace.ts";
import { localNodeOperatorArgs } from "./support/operator-process.ts";
import { extract, jobEvent, promotionModel } from "./support/promotion-objects.ts";

const run = promisify(execFile);
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const namespace = `secrets-e2e-${suffix}`;
const storeName = `secrets-e2e-${suffix}`;
const aclUser = `jude-secrets-e2e-${suffix}`;
const password = `faultSECRETxyz${suffix.replace(/-/g, "")}`;
const token = `tokSECRETbearer${suffix.replace(/-/g, "")}`;
const wrongPassword = "wrongSECRETpw";
const unreachablePassword = "unreachSECRETpw";
const malformedPassword = "mal#formedSECRETpw";
const kafkaUser = "kafkaSECRETuser";
const kafkaPassword = "kafkaSECRETpass";
const kafkaKey = "keySECRETmaterial";
/** Every value that must stay in its Secret (the distinctive part, so encodings of the rest match too). */
const secretValues = [
  password,
  token,
  wrongPassword,
  unreachablePassword,
  "formedSECRETpw",
  kafkaUser,
  kafkaPassword,
  kafkaKey,
];
/** The pipelines of the error paths of model minilm, each failing in its own way. */
const failing = ["wrong-password", "malformed", "kafka-sasl", "kafka-tls"];
const snapshotIds = Array.from({ length: 10 }, (_, index) => `snap-${index}`);

let admin: RedisClient;
let operator: { process: JudeProcess; port: number } | undefined;
let removeNamespace: (() => Promise<void>) | undefined;
let topic: string;

const eventually = (description: string, check: () => Promise<boolean>, timeoutMs = 300_000) =>
  waitFor(description, check, { timeoutMs, intervalMs: 1_000 });

/** The testbed Redis URL with `user:pass@` (or `host` replaced). */
function redisUrl(user: string, pass: string, host?: string): string {
  const url = new URL(requireEnv("JUDE_REDIS_URL"));
  return `redis://${user}:${pass}@${host ?? url.host}`;
}

function pipeline(name: string, secretName: string, kafka: Json = {}, modelName = "minilm"): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name, namespace },
    spec: {
      modelRef: { name: modelName },
      entity: "job",
      source: {
        kafka: {
          bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")],
          topic,
          startOffset: "Latest",
          ...kafka,
        },
      },
      decode: { format: "json", keyPath: "$.jobId", eventTimePath: "$.updatedAt" },
      extract,
      sinks: { store: { name: storeName, urlSecretRef: { name: secretName, key: "url" } } },
      workers: { replicas: 1, maxBatchSize: 16, maxInflight: 2 },
    },
  };
}

const secret = (name: string, data: Record<string, string>): Json => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace },
  stringData: data,
});

/** A run the operator starts itself: it reads the changelog's end offsets and the store's checkpoints. */
const bootstrapRun = (pipelineName: string): Json => ({
  apiVersion: "jude.dev/v1alpha1",
  kind: "BootstrapRun",
  metadata: { name: `${pipelineName}-run`, namespace },
  spec: {
    pipelineRef: { name: pipelineName },
    modelVersion: "v1",
    source: { kafkaSnapshot: {} },
    parallelism: 1,
  },
});

function model(name = "minilm"): Json {
  const object = promotionModel(namespace, "v1", { bakeSeconds: 1, maxLagSeconds: 120 });
  (object.metadata as Json).name = name;
  (object.spec as Json).serving = {
    replicas: 1,
    auth: { tokenSecretRef: { name: "serving-token", key: "token" } },
  };
  return object;
}

/** Files under `dir` (recursively) whose path contains `part`. */
function filesUnder(dir: string, part: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path, part);
    return path.includes(part) ? [path] : [];
  });
}

/** Everything the values must not be in, as named texts. */
async function everything(): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  texts.set("operator log", readFileSync(operator!.process.logFile, "utf8"));
  for (const file of filesUnder(join(stateDir(), "logs", "pods"), `${namespace}_`))
    texts.set(`container log ${file}`, readFileSync(file, "utf8"));
  texts.set("local node agent log", readFileSync(join(stateDir(), "logs", "local-nodes.log"), "utf8"));
  for (const kind of [
    "events",
    "configmaps",
    "deployments",
    "replicasets",
    "jobs",
    "pods",
    "services",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "embeddingmodels",
    "nearlinepipelines",
    "bootstrapruns",
  ])
    texts.set(`kubectl get ${kind}`, await kubectl(["get", kind, "-n", namespace, "-o", "json"]));
  texts.set("operator /metrics", await (await fetch(`http://127.0.0.1:${operator!.port}/metrics`)).text());
  const pods = JSON.parse(await kubectl(["get", "pods", "-n", namespace, "-o", "json"])) as {
    items: { metadata: { name: string }; spec: { containers: Json[] }; status: { podIP?: string } }[];
  };
  for (const pod of pods.items) {
    const ip = pod.status.podIP;
    if (ip === undefined) continue;
    for (const container of pod.spec.containers)
      for (const port of (container.ports ?? []) as { containerPort: number; name?: string }[]) {
        if (!/metric|ops|http/.test(port.name ?? "")) continue;
        try {
          const response = await fetch(`http://${ip}:${port.containerPort}/metrics`, {
            signal: AbortSignal.timeout(5_000),
          });
          texts.set(`${pod.metadata.name}:${port.containerPort}/metrics`, await response.text());
        } catch {
          // A pod that ended since the list.
        }
      }
  }
  const plugin = await run(
    process.execPath,
    [
      join(repoRoot, "cli/kubectl-jude.ts"),
      "status",
      "-n",
      namespace,
      "--kubeconfig",
      requireEnv("KUBECONFIG"),
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: error.stdout ?? "",
    stderr: error.stderr ?? "",
  }));
  texts.set("kubectl jude status", `${plugin.stdout}\n${plugin.stderr}`);
  return texts;
}

/** Each place one of the values shows in `texts`, with a little context. */
function leaks(texts: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [where, text] of texts)
    for (const value of secretValues) {
      const at = text.indexOf(value);
      if (at >= 0) found.push(`${where}: …${text.slice(Math.max(0, at - 200), at + value.length + 40)}…`);
    }
  return found;
}

/** The places looked at whose name starts with `prefix`. */
const named = (texts: Map<string, string>, prefix: string) =>
  [...texts.keys()].filter((where) => where.startsWith(prefix));

beforeAll(async () => {
  admin = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  await admin.call("ACL", "SETUSER", aclUser, "reset", "on", `>${password}`, "~*", "&*", "+@all");
  removeNamespace = await createE2eNamespace(namespace);
  topic = uniqueTopic("secrets-e2e-jobs");
  await createTopics([topic], 2);
  await produceEvents(
    topic,
    snapshotIds.map((id, index) => jobEvent(id, index, `Engineer ${index}`)),
  );
  await openStore(admin, { name: storeName, create: true });
  await applyAll(namespace, [
    secret("store-secret", { url: redisUrl(aclUser, password) }),
    secret("serving-token", { token }),
  ]);
  // Reconciles failing for 15 s (not the default 60) turn ReconcileError: the unreachable store's model
  // reports it in its Ready condition that much sooner (the report, and what it must not quote, are
  // the same). The first test's promotion does not care whether a transient failure shows meanwhile.
  operator = await startJudeOperator(`${namespace}-operator`, namespace, [
    ...localNodeOperatorArgs,
    "--reconcile-error-after-seconds=15",
  ]);
  await applyAll(namespace, [pipeline("jobs", "store-secret"), model()]);
}, 300_000);

afterAll(async () => {
  if (operator) await stopJude(operator.process, "SIGTERM");
  await removeNamespace?.();
  await admin?.call("ACL", "DELUSER", aclUser).catch(() => undefined);
  await admin?.quit();
});

describe("secret values stay in their Secrets", () => {
  it("promotes v1 with a password in the store URL and a serving token, and shows neither anywhere", async () => {
    await eventually("v1 active", async () => {
      const status = (await getObject("embeddingmodel/minilm", namespace))?.status as Json | undefined;
      return status?.activeVersion === "v1";
    });
    const run = await getObject("bootstraprun/jobs-v1-promotion", namespace);
    expect((run?.status as Json).phase).toBe("Succeeded");
    const texts = await everything();
    // Looked at: the worker's, both shards' and the serving pod's containers, and their /metrics.
    expect(named(texts, "container log").length).toBeGreaterThanOrEqual(4);
    expect(named(texts, "jobs-v1-nearline")).toHaveLength(1);
    expect(named(texts, "minilm-v1")).toHaveLength(1);
    expect(texts.get("kubectl jude status")).toContain("jobs-v1-promotion");
    expect(leaks(texts)).toEqual([]);
  }, 600_000);

  it("runs every container of every pod it made restricted", async () => {
    const pods = JSON.parse(await kubectl(["get", "pods", "-n", namespace, "-o", "json"])) as {
      items: { metadata: { name: string }; spec: Json & { containers: Json[]; initContainers?: Json[] } }[];
    };
    expect(pods.items.length).toBeGreaterThanOrEqual(2);
    for (const pod of pods.items) {
      expect(pod.spec.securityContext, pod.metadata.name).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(pod.spec.automountServiceAccountToken, pod.metadata.name).toBe(false);
      for (const container of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])])
        expect(container.securityContext, `${pod.metadata.name}/${container.name as string}`).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
    }
  });

  it("reports a wrong password, an unreachable host, a malformed URL and Kafka auth and TLS failures without the values", async () => {
    await applyAll(namespace, [
      secret("wrong-password", { url: redisUrl(aclUser, wrongPassword) }),
      secret("unreachable", { url: redisUrl(aclUser, unreachablePassword, "127.0.0.1:1") }),
      secret("malformed", { url: redisUrl(aclUser, malformedPassword) }),
      secret("kafka", {
        username: kafkaUser,
        password: kafkaPassword,
        "tls.crt": `-----BEGIN CERTIFICATE-----\n${kafkaKey}\n-----END CERTIFICATE-----\n`,
        "tls.key": `-----BEGIN PRIVATE KEY-----\n${kafkaKey}\n-----END PRIVATE KEY-----\n`,
      }),
      pipeline("wrong-password", "wrong-password"),
      pipeline("malformed", "malformed"),
      pipeline("kafka-sasl", "store-secret", {
        sasl: {
          mechanism: "SCRAM-SHA-512",
          usernameSecretRef: { name: "kafka", key: "username" },
          passwordSecretRef: { name: "kafka", key: "password" },
        },
      }),
      pipeline("kafka-tls", "store-secret", {
        tls: {
          certSecretRef: { name: "kafka", key: "tls.crt" },
          keySecretRef: { name: "kafka", key: "tls.key" },
        },
        sasl: {
          mechanism: "PLAIN",
          usernameSecretRef: { name: "kafka", key: "username" },
          passwordSecretRef: { name: "kafka", key: "password" },
        },
      }),
      ...failing.map(bootstrapRun),
    ]);
    // Model "unreachable" and its one pipeline: its store is on a port nothing listens on (a store
    // of its own: pipelines of one model must share theirs).
    await applyAll(namespace, [
      model("unreachable"),
      pipeline("unreachable", "unreachable", {}, "unreachable"),
      bootstrapRun("unreachable"),
    ]);
    // Each failure is reported where a person looks: the pipeline's Ready condition says why, and it
    // is Stalled (PodFailing, DependencyUnavailable, ReconcileError), not still rolling out: the leak
    // search below must see the failure reports, not the progress messages before them.
    const ready = async (name: string) =>
      condition(await getObject(`nearlinepipeline/${name}`, namespace), "Ready");
    const failed = async (name: string) => {
      const pipeline = await getObject(`nearlinepipeline/${name}`, namespace);
      return (
        condition(pipeline, "Ready")?.status === "False" && condition(pipeline, "Stalled")?.status === "True"
      );
    };
    await eventually(
      "every failure reported",
      async () => (await Promise.all([...failing].map(failed))).every(Boolean),
      240_000,
    );
    // The unreachable store: reported by the operator, which opens it for the model's promotion.
    const unreachable = async () =>
      condition(await getObject("embeddingmodel/unreachable", namespace), "Ready")?.message ?? "";
    await eventually("the unreachable store reported", async () =>
      (await unreachable()).includes("ECONNREFUSED"),
    );
    expect(await unreachable()).toContain("at redis://127.0.0.1:1 is unreachable");
    // What the statuses quote of a crashed worker is its error, not the cut end of a long log line.
    for (const name of failing) expect((await ready(name))?.message, name).not.toMatch(/node_modules\//);
    const texts = await everything();
    for (const name of failing) expect(named(texts, `container log`).join(), name).toContain(`_${name}-v1-`);
    expect(leaks(texts)).toEqual([]);
  }, 400_000);
});

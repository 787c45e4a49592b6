/**
 * Promotion end to end on the testbed's local nodes, where pods really run: the three controllers (in
 * this process, workloads placed on the local nodes) serve v1 (the fp32 model), bootstrap it from a
 * real changelog with an operator-created BootstrapRun and promote it; then spec.version moves to v2
 * (the int8 model, another digest) with cutover Manual: v2 is served beside v1, bootstrapped, its
 * workers catch up, the real parity measurement re-embeds through v2's Service, and the pointer flips
 * only once approved. The operator is stopped mid-bootstrap and started again. A reader loops through
 * the whole promotion and the rollback and must never miss, fail, or see a vector whose model digest is
 * not the one of the version it reports. Events produced during v2's bootstrap must be in v2.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapRunController } from "../../controllers/bootstrap-run/controller.ts";
import { embeddingModelController } from "../../controllers/embedding-model/controller.ts";
import { nearlinePipelineController } from "../../controllers/nearline-pipeline/controller.ts";
import { Manager } from "../../operator/runtime/manager.ts";
import { createEntityTextRenderer } from "../../pipelines/shared/entity-text.ts";
import { createRootLogger, silentLogger } from "../../plumbing/logger.ts";
import {
  connectRedis,
  openStore,
  readPointer,
  StoreReader,
  StoreWriter,
  type RedisClient,
  type Store,
} from "../../store/index.ts";
import {
  condition,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  testImages,
  type Json,
} from "../integration/operator/operator-harness.ts";
import { modelVolume } from "../integration/testbed/local-nodes/serving-manifests.ts";
import { requireEnv } from "../support/env.ts";
import { createTopics, produceEvents, uniqueTopic, type TestEvent } from "../support/kafka.ts";
import { kubectl } from "../support/kubectl.ts";
import { localNodePlacement } from "../testbed/local-nodes/local-node-registry.ts";
import { waitFor } from "../testbed/wait.ts";

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const namespace = `promotion-e2e-${suffix}`;
const storeName = `promotion-e2e-${suffix}`;
const template = "Job: {{title}} at {{company}}";
const extract = { title: "$.title", company: "$.company.name" };
const snapshotIds = Array.from({ length: 40 }, (_, index) => `snap-${index}`);
const liveIds = Array.from({ length: 12 }, (_, index) => `live-${index}`);

let modelDir: string;
let topic: string;
let stopOperator: (() => Promise<void>) | undefined;
let redis: RedisClient;
let store: Store;
let reader: StoreReader;
const digests = new Map<string, string>();

/** Waits long: the machine is shared, and pods start real processes. */
const eventually = (description: string, check: () => Promise<boolean>, timeoutMs = 300_000) =>
  waitFor(description, check, { timeoutMs, intervalMs: 500 });

function startOperator(): () => Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
  const manager = new Manager({
    kubeConfig,
    namespaces: [namespace],
    log: process.env.JUDE_TEST_LOG
      ? createRootLogger({ component: "promotion-e2e", level: "info" })
      : silentLogger(),
    http: { host: "127.0.0.1", port: 0 },
    watchStaleMs: 300_000,
    drainMs: 5_000,
  });
  const settings = { images: testImages, placement: localNodePlacement, concurrency: 2 };
  manager.add(embeddingModelController(settings));
  manager.add(nearlinePipelineController(settings));
  manager.add(bootstrapRunController(settings));
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  return async () => {
    abort.abort();
    await running;
  };
}

const sha256Of = (file: string) =>
  createHash("sha256")
    .update(readFileSync(join(modelDir, file)))
    .digest("hex");

/** The model at `version`; v1 is the fp32 file, v2 and v3 the int8 one (another digest). */
function modelAt(version: "v1" | "v2" | "v3", promotion: Json = {}, sha256Override?: string): Json {
  const file = version === "v1" ? "model.onnx" : "model.int8.onnx";
  const sha256 = sha256Override ?? sha256Of(file);
  digests.set(version, `sha256:${sha256}`);
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name: "minilm", namespace },
    spec: {
      version,
      model: { uri: `pvc://model/${file}`, sha256, dimensions: 384 },
      prompts: { job: template },
      serving: { replicas: 1 },
      promotion: { bakeSeconds: 3_600, maxLagSeconds: 120, ...promotion },
    },
  };
}

function pipeline(): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name: "jobs", namespace },
    spec: {
      modelRef: { name: "minilm" },
      entity: "job",
      source: {
        kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic, startOffset: "Latest" },
      },
      decode: { format: "json", keyPath: "$.jobId", eventTimePath: "$.updatedAt" },
      extract,
      sinks: { store: { name: storeName, urlSecretRef: { name: "store", key: "url" } } },
      workers: { replicas: 1, maxBatchSize: 16, maxInflight: 2 },
    },
  };
}

async function apply(objects: Json[]): Promise<void> {
  await kubectl(
    ["apply", "--server-side", "--force-conflicts", "--field-manager=jude-e2e", "-n", namespace, "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}

const jobEvent = (id: string, index: number, title: string): TestEvent => ({
  key: id,
  partition: index % 2,
  value: { jobId: id, updatedAt: 1_000 + index, title, company: { name: "Acme" } },
});

const model = async () => (await getObject("embeddingmodel/minilm", namespace))!;
const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
const phaseOf = async (version: string) =>
  (await status()).versions?.find((entry) => entry.version === version)?.phase as string | undefined;
const querySelector = async () =>
  (
    ((await getObject("service/minilm", namespace))?.spec as Json | undefined)?.selector as Json | undefined
  )?.["jude.dev/version"];

/** The changelog positions a BootstrapRun captured (empty until it did). */
function watermarks(run: Json | undefined): { partition: number; offset: number }[] {
  const captured = (run?.status as Json | undefined)?.watermarks as Json | undefined;
  return (captured?.partitions ?? []) as { partition: number; offset: number }[];
}

/** A reader looping over the snapshot keys, following the pointer, recording every anomaly. */
function startReaderLoop() {
  const anomalies: string[] = [];
  const versionsSeen = new Set<string>();
  let rounds = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const hits = await reader.getMany("job", snapshotIds);
        hits.forEach((hit, index) => {
          if (hit === null) anomalies.push(`missing ${snapshotIds[index]}`);
          else if (hit.modelDigest !== digests.get(hit.version))
            anomalies.push(`${snapshotIds[index]}: digest ${hit.modelDigest} under ${hit.version}`);
          else versionsSeen.add(hit.version);
        });
      } catch (error) {
        anomalies.push(`error ${(error as Error).message}`);
      }
      rounds += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    anomalies,
    versionsSeen,
    rounds: () => rounds,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

beforeAll(async () => {
  modelDir = requireEnv("JUDE_MODEL_DIR");
  await installCrds();
  await createRestrictedNamespace(namespace);
  topic = uniqueTopic("promotion-e2e-jobs");
  await createTopics([topic], 2);
  await produceEvents(
    topic,
    snapshotIds.map((id, index) => jobEvent(id, index, `Engineer ${index % 10}`)),
  );
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
  store = await openStore(redis, { name: storeName, create: true });
  reader = await StoreReader.open(store);
  stopOperator = startOperator();
  await apply([
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "store" },
      stringData: { url: requireEnv("JUDE_REDIS_URL") },
    },
    ...(modelVolume(namespace, modelDir) as Json[]),
    pipeline(),
    modelAt("v1"),
  ]);
}, 120_000);

afterAll(async () => {
  await stopOperator?.();
  await reader?.close();
  await redis?.quit();
  await deleteNamespace(namespace);
  await kubectl(["delete", "persistentvolume", `${namespace}-model`, "--wait=false", "--ignore-not-found"]);
});

describe("promotion on the local nodes with real pods and data", () => {
  const reads = { loop: undefined as ReturnType<typeof startReaderLoop> | undefined };

  it("bootstraps v1 from the changelog with an operator-created run and promotes it", async () => {
    await eventually("v1 active", async () => (await status()).activeVersion === "v1");
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
    expect(condition(await model(), "Promoted")?.status).toBe("True");
    const run = await getObject("bootstraprun/jobs-v1-promotion", namespace);
    expect((run?.status as Json).phase).toBe("Succeeded");
    const hits = await reader.getMany("job", snapshotIds);
    expect(hits.filter((hit) => hit?.version === "v1" && hit.modelDigest === digests.get("v1"))).toHaveLength(
      snapshotIds.length,
    );
    reads.loop = startReaderLoop();
  });

  it("promotes v2 (int8) beside v1 across an operator restart, flipping only once approved", async () => {
    await apply([modelAt("v2", { cutover: "Manual" })]);
    await eventually(
      "v2's BootstrapRun",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    // Once v2's snapshot position is captured, stop the operator mid-promotion: events produced now
    // lie past the capture, so only v2's workers (started from it) can bring them into v2.
    await eventually(
      "v2's snapshot captured",
      async () => watermarks(await getObject("bootstraprun/jobs-v2-promotion", namespace)).length > 0,
    );
    const captured = watermarks(await getObject("bootstraprun/jobs-v2-promotion", namespace));
    await stopOperator!();
    stopOperator = undefined;
    await produceEvents(
      topic,
      liveIds.map((id, index) => jobEvent(id, 100 + index, `Live role ${index}`)),
    );
    stopOperator = startOperator();
    await eventually("v2 awaiting cutover", async () => {
      const phase = await phaseOf("v2");
      if (phase === "Stalled") throw new Error(`v2 stalled: ${JSON.stringify((await model()).status)}`);
      return phase === "AwaitingCutover";
    });
    const gates = await model();
    for (const gate of ["ServingReady", "BootstrapComplete", "CaughtUp", "CoverageMet", "ParityPassed"])
      expect(condition(gates, gate)?.status, gate).toBe("True");
    // The real measurement: keys of v2 re-embedded through v2's Service, all matching.
    const [, matched, sampled] = /(\d+)\/(\d+) sampled vectors matched/.exec(
      condition(gates, "ParityPassed")?.message ?? "",
    ) ?? [undefined, "0", "-1"];
    expect(Number(sampled)).toBeGreaterThan(0);
    expect(matched).toBe(sampled);
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
    expect(await getObject("deployment/minilm-v1", namespace)).toBeDefined();

    await apply([modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await eventually("v2 active", async () => (await status()).activeVersion === "v2");
    expect((await readPointer(store)).current).toBe("v2");
    expect(await querySelector()).toBe("v2");
    await eventually("the reader on v2", async () => reads.loop!.versionsSeen.has("v2"), 30_000);

    // Every live event is in v2 with the text of its event (its content hash), under v2's digest.
    const render = createEntityTextRenderer({ extract, template, modelVersion: "v2" });
    const metas = await new StoreWriter(store).readMeta(
      "v2",
      liveIds.map((id) => ({ entity: "job", id })),
    );
    liveIds.forEach((id, index) => {
      const document = jobEvent(id, 100 + index, `Live role ${index}`).value;
      expect(metas[index]?.contentHash, id).toBe(render(document).hash);
      const from = captured.find((entry) => entry.partition === metas[index]?.partition)?.offset;
      expect(Number(metas[index]?.offset), id).toBeGreaterThanOrEqual(from ?? Infinity);
    });
    const liveHits = await reader.getMany("job", liveIds, { version: "v2" });
    expect(liveHits.every((hit) => hit?.modelDigest === digests.get("v2"))).toBe(true);
  });

  it("rolls back to v1 at once: pointer, query Service and readers", async () => {
    await apply([modelAt("v1", { cutover: "Manual", approvedVersion: "v2" })]);
    await eventually("pointer back on v1", async () => (await readPointer(store)).current === "v1", 60_000);
    await eventually("query Service on v1", async () => (await querySelector()) === "v1", 60_000);
    await eventually("RolledBack", async () => condition(await model(), "RolledBack")?.status === "True");
    const roundsAtRollback = reads.loop!.rounds();
    await eventually("the reader back on v1", async () => {
      const hits = await reader.getMany("job", snapshotIds);
      return hits.every((hit) => hit?.version === "v1") && reads.loop!.rounds() > roundsAtRollback + 5;
    });
    await reads.loop!.stop();
    expect(reads.loop!.rounds()).toBeGreaterThan(20);
    expect(reads.loop!.anomalies.slice(0, 5)).toEqual([]);
    expect([...reads.loop!.versionsSeen].sort()).toEqual(["v1", "v2"]);
  });

  it("keeps v1 serving while a v3 whose digest does not match its file stays Stalled", async () => {
    await apply([modelAt("v3", { progressDeadlineSeconds: 20 }, sha256Of("model.onnx"))]);
    await eventually("v3 Stalled", async () => condition(await model(), "Stalled")?.status === "True");
    // fetch-model refuses the file (DIGEST_MISMATCH), so v3's pods never become ready.
    expect(condition(await model(), "Stalled")?.message).toContain("ServingReady");
    expect(condition(await model(), "ServingReady")?.status).toBe("False");
    expect((await status()).activeVersion).toBe("v1");
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
    const hits = await reader.getMany("job", snapshotIds);
    expect(hits.every((hit) => hit?.version === "v1" && hit.modelDigest === digests.get("v1"))).toBe(true);
  });
});

/**
 * The operator end to end on the testbed's local nodes, where pods really run: the three controllers
 * (in this process, placed on the local nodes by the operator's workload placement) turn an
 * EmbeddingModel into `jude serve` pods, two NearlinePipelines (jobs, member profiles) into worker
 * pods and a BootstrapRun into Indexed Job shards, all admitted by the `restricted` Pod Security
 * Standard. The checks are independent of the operator: every stored vector must equal what a
 * separate `jude serve` on the host returns for the text the test writes out by hand, the run's counts
 * are known from how the snapshot was built, and a worker killed with SIGKILL mid-stream loses nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { controllerFactories } from "../../operator/controllers.ts";
import { EmbeddingClient } from "../../pipelines/embedding-client/client.ts";
import { connectRedis, openStore, StoreReader, type RedisClient, type Store } from "../../store/index.ts";
import {
  condition,
  getObject,
  listObjects,
  startInProcessOperator,
  type Json,
} from "../integration/operator/operator-harness.ts";
import { requireEnv } from "../support/env.ts";
import { createTopics, produceEvents, uniqueTopic, type TestEvent } from "../support/kafka.ts";
import { startJude, stopJude, waitReady, type JudeProcess } from "../support/processes.ts";
import { localNodePlacement, localNodes } from "../testbed/local-nodes/local-node-registry.ts";
import { freePort } from "../testbed/ports.ts";
import { applyAll, createE2eNamespace, storeSecretRef } from "./support/namespace.ts";
import { testbedModel } from "./support/testbed-model.ts";
import { waitFor } from "../testbed/wait.ts";

const version = "v1";
const jobTemplate = "Job: {{title}} at {{company}}";
const memberTemplate = "Member: {{headline}} in {{industry}}";
const jobText = (title: string, company: string) => `Job: ${title} at ${company}`;
const memberText = (headline: string, industry: string) => `Member: ${headline} in ${industry}`;

// The snapshot: 2 partitions x 20 jobs, each partition repeating 10 texts of its own (a shard reads
// whole partitions, so each text is embedded exactly once by the one shard that sees it).
const snapshotPartitions = 2;
const snapshotPerPartition = 20;
const distinctPerPartition = 10;

const namespace = `e2e-operator-${process.pid}-${Date.now().toString(36)}`;
const storeName = `e2e-op-${Date.now().toString(36)}`;
let jobsTopic: string;
let membersTopic: string;
let stopOperator: () => Promise<void>;
let removeNamespace: (() => Promise<void>) | undefined;
let hostServer: JudeProcess;
let embedder: EmbeddingClient;
let redis: RedisClient;
let store: Store;
let reader: StoreReader;

/** Waits long: the machine is shared, and pods start real processes. */
const eventually = (description: string, check: () => Promise<boolean>, timeoutMs = 420_000) =>
  waitFor(description, check, { timeoutMs, intervalMs: 1_000 });

function startOperator(): () => Promise<void> {
  const operator = startInProcessOperator([namespace], {
    controllers: Object.keys(controllerFactories),
    placement: localNodePlacement,
    concurrency: 2,
    // The e2e operators' pipeline poll (operator-process.ts): CaughtUp below follows the workers' lag
    // within 5 s instead of the production 30.
    pipelinePollMs: 5_000,
  });
  return operator.stop;
}

const model = () =>
  testbedModel(namespace, {
    version,
    file: "model.onnx",
    prompts: { job: jobTemplate, "member-profile": memberTemplate },
  });

function pipeline(name: string, entity: string, topic: string, replicas: number, spec: Json): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name, namespace },
    spec: {
      modelRef: { name: "minilm" },
      entity,
      source: {
        kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic, startOffset: "Latest" },
      },
      ...spec,
      sinks: { store: { name: storeName, urlSecretRef: storeSecretRef } },
      workers: { replicas, maxBatchSize: 16, maxInflight: 2 },
    },
  };
}

const apply = (objects: Json[]) => applyAll(namespace, objects);

interface PodView {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[];
  };
}

const pods = async (selector: string) =>
  (await listObjects("pods", namespace, selector)) as unknown as PodView[];
const ready = (pod: PodView): boolean =>
  pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
const workerSelector = (pipelineName: string) =>
  `app.kubernetes.io/component=nearline,jude.dev/pipeline=${pipelineName}`;

/** Vectors in the store for ids of one entity (null when absent). */
async function stored(entity: string, ids: readonly string[]): Promise<(Float32Array | null)[]> {
  return (await reader.getMany(entity, ids, { version })).map((hit) => hit?.vector ?? null);
}

/** True when each id's stored vector equals the host server's vector of its expected text. */
async function storeHolds(entity: string, expected: Map<string, string | null>): Promise<boolean> {
  const ids = [...expected.keys()];
  const texts = [...new Set([...expected.values()].filter((text): text is string => text !== null))];
  const reference = new Map(
    (await embedder.embed(texts)).vectors.map((vector, index) => [texts[index]!, vector]),
  );
  const vectors = await stored(entity, ids);
  return ids.every((id, index) => {
    const text = expected.get(id)!;
    const vector = vectors[index]!;
    if (text === null) return vector === null;
    const want = reference.get(text)!;
    return (
      vector !== null &&
      vector.length === want.length &&
      vector.every((value, at) => Math.abs(value - want[at]!) < 1e-6)
    );
  });
}

beforeAll(async () => {
  removeNamespace = await createE2eNamespace(namespace);
  jobsTopic = uniqueTopic("e2e-op-jobs");
  membersTopic = uniqueTopic("e2e-op-members");
  await createTopics([jobsTopic], snapshotPartitions);
  await createTopics([membersTopic], 1);
  // The snapshot exists before the pipeline: its workers start at the end, the BootstrapRun fills it.
  await produceEvents(jobsTopic, snapshotEvents());

  const modelDir = requireEnv("JUDE_MODEL_DIR");
  const grpcPort = await freePort();
  const httpPort = await freePort();
  hostServer = startJude("e2e-operator-reference-server", [
    "serve",
    "--model-dir",
    modelDir,
    "--model-version",
    version,
    "--host",
    "127.0.0.1",
    "--grpc-port",
    String(grpcPort),
    "--http-port",
    String(httpPort),
    "--execution-provider",
    "cpu",
    "--intra-op-threads",
    "1",
  ]);
  await waitReady(hostServer, httpPort);
  embedder = new EmbeddingClient({ address: `127.0.0.1:${grpcPort}` });
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });

  stopOperator = startOperator();
  await apply([
    model(),
    // The back-fill of the first version, created with the model: the operator adopts a user's run
    // for a pipeline and version instead of creating its own.
    {
      apiVersion: "jude.dev/v1alpha1",
      kind: "BootstrapRun",
      metadata: { name: "jobs-v1" },
      spec: {
        pipelineRef: { name: "jobs" },
        modelVersion: version,
        source: { kafkaSnapshot: {} },
        parallelism: 2,
        dedupe: true,
      },
    },
    pipeline("jobs", "job", jobsTopic, 2, {
      decode: {
        format: "json",
        keyPath: "$.jobId",
        eventTimePath: "$.updatedAt",
        delete: { path: "$.op", values: ["delete"] },
      },
      extract: { title: "$.title", company: "$.company.name" },
    }),
    pipeline("member-profiles", "member-profile", membersTopic, 1, {
      decode: {
        format: "json",
        keyPath: "$.after.memberId",
        eventTimePath: "$.source.ts_ms",
        delete: { path: "$.op", values: ["d"] },
      },
      extract: { headline: "$.after.headline", industry: "$.after.industry" },
    }),
  ]);
  // Serving first: the version's promotion (and so the model's Ready) waits for live vectors below.
  await eventually(
    "EmbeddingModel minilm serving",
    async () =>
      condition(await getObject("embeddingmodel/minilm", namespace), "ServingReady")?.status === "True",
  );
  // A worker is ready once it joined its consumer group; only then do live events reach it.
  await eventually("all nearline workers ready", async () => {
    const jobs = await pods(workerSelector("jobs"));
    const members = await pods(workerSelector("member-profiles"));
    return jobs.length === 2 && members.length === 1 && [...jobs, ...members].every(ready);
  });
  // The workers create the store when they start; readers open it afterwards.
  store = await openStore(redis, { name: storeName });
  reader = await StoreReader.open(store);
}, 900_000);

afterAll(async () => {
  await stopOperator?.();
  await reader?.close();
  await redis?.quit();
  embedder?.close();
  if (hostServer !== undefined) await stopJude(hostServer);
  await removeNamespace?.();
});

function snapshotEvents(): TestEvent[] {
  return Array.from({ length: snapshotPartitions * snapshotPerPartition }, (_, index) => {
    const partition = index % snapshotPartitions;
    const id = `snap-${index}`;
    const title = `Engineer ${partition}-${Math.floor(index / snapshotPartitions) % distinctPerPartition}`;
    return {
      key: id,
      partition,
      value: { jobId: id, updatedAt: 1_000 + index, title, company: { name: "Acme" } },
    };
  });
}

describe("the operator on the local nodes", () => {
  it("runs every workload on the local nodes, admitted by the restricted profile", async () => {
    const labels = ((await getObject(`namespace/${namespace}`, namespace))!.metadata as Json).labels as Json;
    expect(labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const all = await pods("app.kubernetes.io/managed-by=jude-operator");
    const localNames = localNodes.map((node) => node.name);
    expect(all.map((pod) => pod.spec.nodeName)).toEqual(all.map(() => expect.toBeOneOf(localNames)));
    const serving = await pods("app.kubernetes.io/component=serving");
    expect(serving).toHaveLength(1);
    // A real process behind every running container (the agent reports local://<pid>).
    const running = all.filter((pod) => pod.status.phase === "Running");
    expect(running.length).toBeGreaterThanOrEqual(4);
    for (const pod of running)
      expect(pod.status.containerStatuses?.[0]?.containerID).toMatch(/^local:\/\/\d+$/);
  });

  it("back-fills the snapshot with a BootstrapRun that reports progress and Succeeded with exact counts", async () => {
    let run: Json | undefined;
    await eventually("BootstrapRun jobs-v1 Succeeded", async () => {
      run = await getObject("bootstraprun/jobs-v1", namespace);
      const phase = (run?.status as Json | undefined)?.phase as string | undefined;
      if (phase === "Failed") throw new Error(`run failed: ${JSON.stringify(run?.status)}`);
      return phase === "Succeeded";
    });
    const total = snapshotPartitions * snapshotPerPartition;
    const distinct = snapshotPartitions * distinctPerPartition;
    expect((run!.status as Json).progress).toEqual({
      total,
      processed: total,
      embedded: distinct,
      deduplicated: total - distinct,
      failed: 0,
      percent: 100,
    });
    expect(condition(run, "Complete")?.status).toBe("True");
    const expected = new Map(
      snapshotEvents().map((event) => {
        const value = event.value as { jobId: string; title: string };
        return [value.jobId, jobText(value.title, "Acme")] as [string, string];
      }),
    );
    expect(await storeHolds("job", expected)).toBe(true);
  });

  it("turns changelog events into vectors equal to a direct Embed call, losing nothing when a worker is killed", async () => {
    const jobs = new Map<string, string | null>();
    const members = new Map<string, string | null>();
    const jobEvents = (from: number, count: number): TestEvent[] =>
      Array.from({ length: count }, (_, offset) => {
        const index = from + offset;
        const id = `job-${index % 25}`;
        if (index % 11 === 10) {
          jobs.set(id, null);
          return { key: id, value: { jobId: id, updatedAt: 10_000 + index, op: "delete" } };
        }
        const title = `Data scientist ${index}`;
        jobs.set(id, jobText(title, "Globex"));
        return {
          key: id,
          value: { jobId: id, updatedAt: 10_000 + index, title, company: { name: "Globex" } },
        };
      });
    const memberEvents = Array.from({ length: 12 }, (_, index): TestEvent => {
      const id = `member-${index % 8}`;
      const headline = `Staff engineer ${index}`;
      members.set(id, memberText(headline, "Software"));
      return {
        key: id,
        value: {
          op: "u",
          source: { ts_ms: 20_000 + index },
          after: { memberId: id, headline, industry: "Software" },
        },
      };
    });

    await produceEvents(jobsTopic, jobEvents(0, 60));
    await produceEvents(membersTopic, memberEvents);
    // SIGKILL one jobs worker's process mid-stream: it cannot drain or commit; what it had not
    // committed is consumed again after its restart (or by the other worker) and written once more.
    const [victim] = await pods(workerSelector("jobs"));
    const pid = Number(/^local:\/\/(\d+)$/.exec(victim!.status.containerStatuses![0]!.containerID!)![1]);
    process.kill(pid, "SIGKILL");
    await produceEvents(jobsTopic, jobEvents(60, 60));

    await eventually("the jobs in the store equal the direct embeddings", () => storeHolds("job", jobs));
    await eventually("the members in the store equal the direct embeddings", () =>
      storeHolds("member-profile", members),
    );
    const restarted = (await pods(workerSelector("jobs"))).find(
      (pod) => pod.metadata.name === victim!.metadata.name,
    );
    expect(restarted?.status.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1);

    // Everything produced is in the store, so the real workers have nothing left to read: each
    // pipeline's CaughtUp condition, judged from their reported lag, turns True (refreshed every 5 s).
    for (const name of ["jobs", "member-profiles"]) {
      await eventually(`NearlinePipeline ${name} CaughtUp`, async () => {
        const caughtUp = condition(await getObject(`nearlinepipeline/${name}`, namespace), "CaughtUp");
        return caughtUp?.status === "True";
      });
      const caughtUp = condition(await getObject(`nearlinepipeline/${name}`, namespace), "CaughtUp");
      expect(caughtUp).toMatchObject({ reason: "CaughtUp" });
      expect(caughtUp?.message).toMatch(/^version v1: lag \d+ records, freshness p95 /);
    }
  });
});

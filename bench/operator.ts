/**
 * Operator benchmark: N EmbeddingModels and N NearlinePipelines applied at once on the testbed (kwok
 * nodes), run by a real `jude operator` process: seconds until all are Ready, reconciles/s, API
 * requests/s and the operator's peak RSS and heap (from its own /metrics). Run it with
 * `npm run bench -- operator [--json] [--models 200] [--pipelines 200]`; it starts kube and kwok when
 * they are not running and stops what it started.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../operator/runtime/kube-client.ts";
import { Permits } from "../plumbing/permits.ts";
import { kubectl } from "../test/support/kubectl.ts";
import { startJude, stopJude, waitReady } from "../test/support/processes.ts";
import { down, up } from "../test/testbed/index.ts";
import { probe } from "../test/testbed/http-probe.ts";
import { freePort } from "../test/testbed/ports.ts";
import { repoRoot } from "../test/testbed/paths.ts";
import { parse } from "yaml";
import { installCrds } from "../test/integration/operator/operator-harness.ts";
import { deleteKeysWithPrefix } from "../test/support/redis.ts";
import {
  connectRedis,
  defaultPrefix,
  flip,
  markVersionComplete,
  openStore,
  registerVersion,
  type RedisClient,
} from "../store/index.ts";
import { benchModel, benchPipeline, benchSecret } from "./operator-objects.ts";
import { machineInfo, round, type MachineInfo } from "./stats.ts";

/** The figures; `bench`, `objects`, `converge_s` and `rss_mb` are the contract of `--json`. */
export interface OperatorBenchFigures {
  bench: "operator";
  objects: number;
  models: number;
  pipelines: number;
  converge_s: number;
  /** Seconds the benchmark took to apply the objects (32 requests in flight). */
  apply_s: number;
  reconciles: number;
  reconciles_per_s: number;
  api_requests: number;
  api_requests_per_s: number;
  rss_mb: number;
  heap_mb: number;
  /** Keys each controller reconciled at once (--concurrency). */
  concurrency: number;
  machine: MachineInfo;
}

/** Sums the samples of a metric in Prometheus text. */
function metricSum(text: string, name: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(name) && (line[name.length] === " " || line[name.length] === "{"))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/**
 * Objects of a JUDE kind in `namespace` whose Ready condition is True. Polled in-process: a kubectl
 * per poll would cost more CPU than the operator under test on a small machine.
 */
async function readyCount(client: KubeClient, namespace: string, plural: string): Promise<number> {
  const { items } = await client.list(`/apis/jude.dev/v1alpha1/namespaces/${namespace}/${plural}`);
  return items.filter((item) =>
    (item as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions?.some(
      (c) => c.type === "Ready" && c.status === "True",
    ),
  ).length;
}

/**
 * Makes v1 the active version of every model's store, as its first bootstrap would have. A model's
 * first version is promoted through a bootstrap and its workers' lag, which pods that only pretend to
 * run on kwok nodes cannot provide; with the stores already live the benchmark measures what it is
 * for: the operator and the control plane bringing 2N objects and their children to Ready.
 */
async function seedStores(client: RedisClient, names: readonly string[]): Promise<void> {
  const seeded = [...names];
  const workers = Array.from({ length: 16 }, async () => {
    for (let name = seeded.pop(); name !== undefined; name = seeded.pop()) {
      const store = await openStore(client, { name, create: true });
      await registerVersion(store, "v1", { modelDigest: `sha256:${"0".repeat(64)}`, dimension: 384 });
      await markVersionComplete(store, "v1");
      await flip(store, { expectedCurrent: null, target: "v1" });
    }
  });
  await Promise.all(workers);
}

/** The API path of a benchmark object (a Secret or a JUDE resource) in `namespace`. */
function objectPath(namespace: string, object: Record<string, unknown>): string {
  const { name } = object.metadata as { name: string };
  if (object.kind === "Secret") return `/api/v1/namespaces/${namespace}/secrets/${name}`;
  const plural = object.kind === "EmbeddingModel" ? "embeddingmodels" : "nearlinepipelines";
  return `/apis/jude.dev/v1alpha1/namespaces/${namespace}/${plural}/${name}`;
}

/** Runs the benchmark and returns its figures. */
export async function runOperatorBench(
  models = 200,
  pipelines = models,
  concurrency?: number,
): Promise<OperatorBenchFigures> {
  if (pipelines > models) throw new Error("each pipeline needs a model of its own: pipelines <= models");
  const namespace = `bench-operator-${process.pid}`;
  const redis = connectRedis({ url: process.env.JUDE_REDIS_URL ?? "redis://127.0.0.1:6379" });
  const storeNames = Array.from({ length: pipelines }, (_, index) => `store-bench-${index}`);
  // Every benchmark store's keys contain this (store-bench-1's prefix is also store-bench-10's start).
  const storesPrefix = defaultPrefix("store-bench-");
  await deleteKeysWithPrefix(redis, storesPrefix);
  await seedStores(redis, storeNames);
  await installCrds();
  await kubectl(["create", "namespace", namespace]);
  const port = await freePort();
  // The operator runs with the V8 sizing the chart gives its pod (values.yaml nodeOptions).
  const chartValues = parse(readFileSync(join(repoRoot, "charts/jude-operator/values.yaml"), "utf8")) as {
    nodeOptions?: string;
    concurrency?: number;
  };
  const workers = concurrency ?? chartValues.concurrency ?? 4;
  const operator = startJude(
    "operator-bench",
    [
      "operator",
      `--kubeconfig=${process.env.KUBECONFIG}`,
      `--namespaces=${namespace}`,
      "--leader-elect=false",
      "--http-host=127.0.0.1",
      `--http-port=${port}`,
      `--concurrency=${workers}`,
    ],
    { NODE_OPTIONS: chartValues.nodeOptions ?? "" },
  );
  try {
    await waitReady(operator, port);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(process.env.KUBECONFIG ?? "");
    const client = new KubeClient(kubeConfig);
    const started = Date.now();
    const objects = [
      benchSecret(namespace, process.env.JUDE_REDIS_URL ?? "redis://127.0.0.1:6379"),
      ...Array.from({ length: models }, (_, index) => benchModel(namespace, `bench-${index}`)),
      ...Array.from({ length: pipelines }, (_, index) =>
        benchPipeline(namespace, `bench-${index}`, `bench-${index}`),
      ),
    ];
    // Applied in parallel, as a GitOps controller syncing a repository would: `kubectl apply` of one
    // List sends one request after another, which on a loaded API server took ~100 s by itself.
    const permits = new Permits(32);
    await Promise.all(
      objects.map((object) =>
        permits.run(() => client.apply(objectPath(namespace, object), object, "jude-bench", true)),
      ),
    );
    const appliedS = (Date.now() - started) / 1000;
    let reportedAt = started;
    let rss = 0;
    let heap = 0;
    for (;;) {
      // A sample the busy operator did not answer in time is skipped, not fatal.
      const metrics = await probe(`http://127.0.0.1:${port}/metrics`).then(
        (answer) => answer.body,
        () => "",
      );
      rss = Math.max(rss, metricSum(metrics, "jude_operator_process_resident_memory_bytes"));
      heap = Math.max(heap, metricSum(metrics, "jude_operator_nodejs_heap_size_used_bytes"));
      const ready = [
        await readyCount(client, namespace, "embeddingmodels"),
        await readyCount(client, namespace, "nearlinepipelines"),
      ];
      if (ready[0] === models && ready[1] === pipelines) break;
      if (Date.now() - reportedAt >= 10_000) {
        reportedAt = Date.now();
        const elapsed = Math.round((reportedAt - started) / 1000);
        console.error(`${elapsed} s: ${ready[0]}/${models} models, ${ready[1]}/${pipelines} pipelines Ready`);
      }
      if (Date.now() - started > 600_000)
        throw new Error(
          `after 600 s only ${ready[0]}/${models} models, ${ready[1]}/${pipelines} pipelines Ready`,
        );
      await sleep(1_000);
    }
    const convergeS = (Date.now() - started) / 1000;
    await client.close();
    const metrics = (await probe(`http://127.0.0.1:${port}/metrics`)).body;
    const reconciles = metricSum(metrics, "jude_operator_reconciles_total");
    const requests = metricSum(metrics, "jude_operator_api_requests_total");
    return {
      bench: "operator",
      objects: models + pipelines,
      models,
      pipelines,
      converge_s: round(convergeS, 1),
      apply_s: round(appliedS, 1),
      reconciles,
      reconciles_per_s: round(reconciles / convergeS, 1),
      api_requests: requests,
      api_requests_per_s: round(requests / convergeS, 1),
      rss_mb: round(rss / 2 ** 20, 1),
      heap_mb: round(heap / 2 ** 20, 1),
      concurrency: workers,
      machine: machineInfo(),
    };
  } finally {
    await stopJude(operator);
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await deleteKeysWithPrefix(redis, storesPrefix);
    redis.disconnect();
  }
}

async function main(argv: string[]): Promise<void> {
  const json = argv.includes("--json");
  const modelsFlag = argv.indexOf("--models");
  const models = modelsFlag >= 0 ? Number(argv[modelsFlag + 1]) : 200;
  const pipelinesFlag = argv.indexOf("--pipelines");
  const pipelines = pipelinesFlag >= 0 ? Number(argv[pipelinesFlag + 1]) : models;
  // Default: the chart's --concurrency, as the operator runs when installed.
  const concurrencyFlag = argv.indexOf("--concurrency");
  const concurrency = concurrencyFlag >= 0 ? Number(argv[concurrencyFlag + 1]) : undefined;
  // Redis: the promotion reads each model's store (the pipelines' store Secret) on every reconcile.
  const { started, env } = await up(["kube", "kwok", "redis"]);
  Object.assign(process.env, env);
  try {
    const figures = await runOperatorBench(models, pipelines, concurrency);
    if (!json)
      console.log(
        `operator: ${figures.models} models + ${figures.pipelines} pipelines Ready in ${figures.converge_s} s, ${figures.reconciles_per_s} reconciles/s, ${figures.api_requests_per_s} API requests/s, RSS ${figures.rss_mb} MB, heap ${figures.heap_mb} MB`,
      );
    console.log(JSON.stringify(figures));
  } finally {
    if (started.length > 0) await down(started);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));

/**
 * Chaos with two `jude operator` replicas competing for the Lease: the leader is SIGKILLed (no Lease
 * release) at random moments of a promotion v1 -> v2, of an abandon of v3 through the kubectl plugin,
 * and of a rollback v3 -> v2 through the plugin; the standby takes over and a new standby is started.
 * Readers never reach a version whose bootstrap did not finish, and the model converges to its spec.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPointer, type RedisClient, type Store, type StoreReader } from "../../store/index.ts";
import { getObject, listObjects, type Json } from "../integration/operator/operator-harness.ts";
import { requireEnv } from "../support/env.ts";
import { kubectlJson } from "../support/kubectl.ts";
import { produceEvents } from "../support/kafka.ts";
import { startJude, stopJude, waitReady, type JudeProcess } from "../support/processes.ts";
import { repoRoot } from "../testbed/paths.ts";
import { freePort } from "../testbed/ports.ts";
import { localNodeOperatorArgs } from "./support/operator-process.ts";
import { waitFor } from "../testbed/wait.ts";
import { applyAll } from "./support/namespace.ts";
import { startPromotionScene, stopPromotionScene } from "./support/promotion-scene.ts";
import { jobEvent, template } from "./support/promotion-objects.ts";
import { watchReaders } from "./support/readers-watch.ts";
import { testbedModel } from "./support/testbed-model.ts";

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const namespace = `promotion-failover-${suffix}`;
const storeName = `promotion-failover-${suffix}`;
const snapshotIds = Array.from({ length: 30 }, (_, index) => `snap-${index}`);
const liveIds = Array.from({ length: 10 }, (_, index) => `live-${index}`);
const prompts: Record<string, string> = { v1: template, v2: template, v3: "Role: {{title}} ({{company}})" };

let topic: string;
let removeNamespace: (() => Promise<void>) | undefined;
let redis: RedisClient;
let store: Store;
let reader: StoreReader;
const replicas = new Map<string, JudeProcess>();
let started = 0;
let kills = 0;

const modelAt = (version: string): Json =>
  testbedModel(namespace, {
    version,
    file: version === "v1" ? "model.onnx" : "model.int8.onnx",
    prompts: { job: prompts[version]! },
    promotion: { bakeSeconds: 600, maxLagSeconds: 120, retainVersions: 2 },
  });
const status = async () =>
  (await getObject("embeddingmodel/minilm", namespace))!.status as Json & {
    activeVersion?: string;
    versions?: Json[];
  };
const phases = async () =>
  ((await status()).versions ?? [])
    .map((entry) => `${String(entry.version)}:${String(entry.phase)}`)
    .join(" ");

async function startReplica(): Promise<void> {
  started += 1;
  const identity = `replica-${started}`;
  const port = await freePort();
  const process = startJude(`${namespace}-${identity}`, [
    "operator",
    `--kubeconfig=${requireEnv("KUBECONFIG")}`,
    `--namespaces=${namespace}`,
    `--lease-namespace=${namespace}`,
    `--identity=${identity}`,
    "--lease-duration-seconds=5",
    "--renew-deadline-seconds=4",
    "--retry-period-seconds=1",
    "--http-host=127.0.0.1",
    `--http-port=${port}`,
    ...localNodeOperatorArgs,
  ]);
  await waitReady(process, port);
  replicas.set(identity, process);
}

/** SIGKILLs the Lease holder (no release) and starts a new standby. */
async function killLeader(): Promise<void> {
  const lease = await kubectlJson<Json>(["get", "lease", "jude-operator", "-n", namespace]);
  const holder = (lease.spec as Json).holderIdentity as string;
  const process = replicas.get(holder);
  if (process === undefined) return;
  await stopJude(process, "SIGKILL");
  replicas.delete(holder);
  kills += 1;
  console.error(`kill ${kills} (${holder}) at ${await phases()}`);
  await startReplica();
}

/** Kills leaders at random moments until `until` resolves. */
async function chaosUntil(until: () => Promise<boolean>, timeoutMs = 900_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await until())) {
    if (Date.now() > deadline) throw new Error(`no convergence; at ${await phases()}`);
    await sleep(1_000 + Math.random() * 7_000);
    if (await until()) return;
    await killLeader();
  }
}

const execFileAsync = promisify(execFile);
async function plugin(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [
      join(repoRoot, "cli/kubectl-jude.ts"),
      ...args,
      "-n",
      namespace,
      "--kubeconfig",
      requireEnv("KUBECONFIG"),
    ],
    { cwd: repoRoot },
  );
  return stdout;
}

beforeAll(async () => {
  const scene = await startPromotionScene({
    namespace,
    topicPrefix: "promotion-failover",
    storeName,
    snapshotIds,
    firstModel: modelAt("v1"),
  });
  ({ topic, redis, store, reader, removeNamespace } = scene);
  await scene.operator.stop();
  await startReplica();
  await startReplica();
}, 180_000);

afterAll(async () => {
  await Promise.all([...replicas.values()].map((process) => stopJude(process)));
  await stopPromotionScene({ reader, redis, removeNamespace });
});

describe("a promotion whose leader is SIGKILLed, with a standby taking over", () => {
  it("promotes, abandons and rolls back safely through failovers", async () => {
    await waitFor("v1 active", async () => (await status()).activeVersion === "v1", {
      timeoutMs: 300_000,
      intervalMs: 500,
    });
    const watch = watchReaders(namespace, store, "v1");
    const active = (version: string) => async () =>
      (await status()).activeVersion === version && (await readPointer(store)).current === version;

    await applyAll(namespace, [modelAt("v2")]);
    await produceEvents(
      topic,
      liveIds.map((id, index) => jobEvent(id, 100 + index, `Live role ${index}`)),
    );
    await chaosUntil(active("v2"));

    // v3 started, then abandoned through the plugin with a failover right after.
    await applyAll(namespace, [modelAt("v3")]);
    await chaosUntil(async () => ((await status()).versions ?? []).some((entry) => entry.version === "v3"));
    await sleep(Math.random() * 10_000);
    console.error(`abandon at ${await phases()}: ${await plugin("rollback", "minilm")}`);
    await killLeader();
    await chaosUntil(
      async () => (await listObjects("deployments", namespace, "jude.dev/version=v3")).length === 0,
    );

    // v3 promoted for real, then rolled back through the plugin with a failover right after.
    await applyAll(namespace, [modelAt("v3")]);
    await chaosUntil(active("v3"));
    console.error(`rollback at ${await phases()}: ${await plugin("rollback", "minilm")}`);
    await killLeader();
    await chaosUntil(active("v2"), 300_000);

    const { seen, violations } = await watch.stop();
    console.error(`kills ${kills}; readers saw ${seen.join(" -> ")}; ${await phases()}`);
    expect(violations).toEqual([]);
    await waitFor(
      "observed",
      async () => {
        const model = (await getObject("embeddingmodel/minilm", namespace))!;
        return (model.status as Json).observedGeneration === (model.metadata as Json).generation;
      },
      { timeoutMs: 60_000 },
    );
    const hits = await reader.getMany("job", [...snapshotIds, ...liveIds], { version: "v2" });
    expect([...snapshotIds, ...liveIds].filter((_, index) => hits[index] === null)).toEqual([]);
    for (const version of ["v2", "v3"]) {
      const runs = await listObjects("bootstrapruns", namespace, `jude.dev/version=${version}`);
      const jobs = await listObjects("jobs", namespace, `jude.dev/version=${version}`);
      console.error(
        version,
        runs.map((run) => (run.metadata as Json).name),
        jobs.map((job) => (job.metadata as Json).name),
      );
      expect(jobs.length).toBeLessThanOrEqual(runs.length);
    }
    const events = await kubectlJson<{ items: Json[] }>([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      "involvedObject.kind=EmbeddingModel",
    ]);
    const reasons = events.items.map(
      (event) => `${String(event.reason)} x${String(event.count ?? 1)}: ${String(event.message)}`,
    );
    console.error(reasons.join("\n"));
    // No switch of readers announced twice by two leaders (an Event can be lost: best effort).
    for (const [reason, switched] of [
      ["Promoted", "from v1 to v2"],
      ["RolledBack", "from v3 to v2"],
    ] as const)
      expect(
        events.items.filter((event) => event.reason === reason && String(event.message).includes(switched))
          .length,
      ).toBeLessThanOrEqual(1);
  }, 2_400_000);
});

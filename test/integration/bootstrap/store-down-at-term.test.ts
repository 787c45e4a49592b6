/**
 * `jude bootstrap` SIGTERMed while its store cannot answer at all must still exit 75 within the pod's
 * grace period (SIGKILL is exit 137, counted against the Job's backoffLimit), and the rerun must
 * finish the exact result:
 * - a Redis Cluster store whose every node is lost mid-run: the cluster client queues the batches'
 *   writes and the `interrupted` save while it looks for a node to learn the slot map from, and no
 *   command timeout covers a command it has not sent; the drop at storeShutdownMs must fail them;
 * - a store that hangs (a frozen link) while the shard is still opening it: the open waits for its
 *   command timeout (10 s), and its connection would hold the process that long after the abort.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeShutdownMs } from "../../../pipelines/bootstrap/app.ts";
import { CheckpointStore, checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { connectRedis, countVersion, openStore } from "../../../store/index.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { requireEnv } from "../../support/env.ts";
import { startTcpLink } from "../../support/tcp-link.ts";
import { deleteKeysWithPrefix } from "../store/helpers.ts";
import { startOwnedCluster, type OwnedCluster } from "../store/owned-cluster.ts";
import { waitFor } from "./embedding-gate.ts";
import { jobDocument, shardDocument, VERSION } from "./helpers.ts";

const ENTITIES = 600;
const DISTINCT = 100;

/** `jude bootstrap` as the Job runs it; resolves with how it exited and everything it printed. */
function startShard(configPath: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ["cli/jude.ts", "bootstrap", "--config", configPath], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output };
}

/** SIGTERMs the shard; its exit, or "still running" once `withinMs` have passed (then SIGKILLed). */
async function terminate(shard: ReturnType<typeof startShard>, withinMs: number) {
  shard.child.kill("SIGTERM");
  const exit = await Promise.race([
    shard.exited,
    new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), withinMs)),
  ]);
  if (exit === "still running") shard.child.kill("SIGKILL");
  return exit;
}

describe("bootstrap SIGTERM while its store cannot answer (real processes and Redis)", () => {
  let server: TestEmbeddingServer;
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-store-down-"));
  const jobs = join(dir, "jobs.jsonl");
  const clusters: OwnedCluster[] = [];

  beforeAll(async () => {
    server = await startTestEmbeddingServer(VERSION, { logLevel: "silent" });
    const rows = Array.from({ length: ENTITIES }, (_, id) => JSON.stringify(jobDocument(id, DISTINCT)));
    writeFileSync(jobs, rows.join("\n") + "\n");
  });
  afterAll(async () => {
    for (const cluster of clusters) await cluster.destroy();
    await server?.server.close();
  });

  /** A shard's config file on store `store` (its `store` section), reading the jobs file. */
  function writeConfig(run: string, store: Record<string, unknown>): string {
    const document = shardDocument({
      storeName: String(store["name"]),
      store,
      run,
      source: { files: { uris: [pathToFileURL(jobs).href] } },
      shards: { count: 1, index: 0 },
      extra: { batching: { maxEntities: 30, inflightBatches: 2 }, checkpoint: { progressIntervalMs: 200 } },
    });
    const path = join(dir, `${run}-${Math.random().toString(36).slice(2, 8)}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        ...document,
        model: { ...(document.model as object), digest: server.digest },
        embedding: { endpoint: server.address, maxBatchSize: 8, maxInflight: 2 },
      }),
    );
    return path;
  }

  /** An owned three-primary cluster, its seed list in env var `env` as a pod's Secret gives it. */
  async function ownedClusterIn(env: string) {
    const cluster = await startOwnedCluster({ masters: 3 });
    clusters.push(cluster);
    process.env[env] = cluster.seeds.join(",");
    return cluster;
  }

  it("exits 75 within the grace period on SIGTERM while every node of its Cluster store is down, and the rerun finishes", async () => {
    const run = "term-cluster-down";
    const name = `bt-cluster-down-${Math.random().toString(36).slice(2, 8)}`;
    const cluster = await ownedClusterIn("JUDE_BOOTSTRAP_DOWN_CLUSTER");
    const client = connectRedis({ clusterNodes: cluster.seeds });
    const checkpoints = new CheckpointStore(
      client,
      checkpointKey(`jude:${name}`, { namespace: "test", name: run }, 0),
      60,
    );
    try {
      const first = startShard(
        writeConfig(run, { name, url: { env: "JUDE_BOOTSTRAP_DOWN_CLUSTER" }, cluster: true }),
      );
      // Mid-run: batches in flight, then the `interrupted` save, all waiting on the lost cluster.
      await waitFor(async () => ((await checkpoints.load())?.counts.written ?? 0) > 0, "some progress");
      const before = await checkpoints.load();
      expect(before!.counts.written).toBeLessThan(ENTITIES);
      for (const node of cluster.nodes) await node.kill();
      const exit = await terminate(first, 15_000);
      expect(exit, first.output.join("")).toEqual({ code: 75, signal: null });
    } finally {
      client.disconnect();
    }

    // The rerun, on the cluster back (here a new one: the old nodes' data died with them), finishes.
    const back = await ownedClusterIn("JUDE_BOOTSTRAP_BACK_CLUSTER");
    const second = startShard(
      writeConfig(run, { name, url: { env: "JUDE_BOOTSTRAP_BACK_CLUSTER" }, cluster: true }),
    );
    expect((await second.exited).code, second.output.join("")).toBe(0);
    const direct = connectRedis({ clusterNodes: back.seeds });
    try {
      const store = await openStore(direct, { name });
      expect(await countVersion(store, VERSION)).toMatchObject({ live: ENTITIES, texts: DISTINCT });
    } finally {
      await direct.quit();
    }
  });

  it("exits 75 within storeShutdownMs on SIGTERM while it opens a store that hangs, and the rerun finishes", async () => {
    const run = "term-open-hang";
    const name = `bt-open-hang-${Math.random().toString(36).slice(2, 8)}`;
    const redis = new URL(requireEnv("JUDE_REDIS_URL"));
    const link = await startTcpLink({ host: redis.hostname, port: Number(redis.port || 6379) });
    const storeUrlEnv = "JUDE_BOOTSTRAP_HUNG_OPEN_URL";
    try {
      link.freeze();
      const first = startShard(writeConfig(run, { name, url: { env: storeUrlEnv } }), {
        [storeUrlEnv]: `redis://127.0.0.1:${link.port}${redis.pathname}`,
      });
      await waitFor(async () => link.accepted() > 0, "the shard to connect to the store");
      // Before the opening connection was dropped at the abort, the open waited out its command
      // timeout (10 s) and its connection held the process that long.
      const exit = await terminate(first, storeShutdownMs);
      expect(exit, first.output.join("")).toEqual({ code: 75, signal: null });
      await link.close();

      const second = startShard(writeConfig(run, { name, url: { env: "JUDE_REDIS_URL" } }));
      expect((await second.exited).code, second.output.join("")).toBe(0);
      const direct = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
      try {
        expect(await countVersion(await openStore(direct, { name }), VERSION)).toMatchObject({
          live: ENTITIES,
          texts: DISTINCT,
        });
      } finally {
        await deleteKeysWithPrefix(direct, `jude:${name}`);
        await direct.quit();
      }
    } finally {
      await link.close();
    }
  });
});

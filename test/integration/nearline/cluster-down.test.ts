/**
 * `jude nearline` on a Redis Cluster store whose every node is lost (all primaries crashed, the whole
 * cluster's network gone), SIGTERMed with a batch in hand: the cluster client queues the batch's
 * commands while it looks for a node to learn the slot map from, and neither the command timeout nor
 * maxRetriesPerRequest applies to a command it has not sent. The drop after the drain must fail them,
 * or the worker outlives its pod's grace period and is SIGKILLed. The batch stays uncommitted: the
 * next worker reads it again and stores it.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { workerTerminationGraceSeconds } from "../../../controllers/nearline-pipeline/worker-deployment.ts";
import { connectRedis, openStore } from "../../../store/index.ts";
import { committedOffsets, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import {
  jobEvents,
  jobWorkerConfig,
  liveIds,
  startInProcessNearline,
  useOwnedRedisAndEmbedding,
} from "../../support/nearline.ts";
import { startHeldWorker } from "../../support/nearline-processes.ts";
import { waitFor } from "../../testbed/wait.ts";
import { startOwnedCluster, type OwnedCluster } from "../store/owned-cluster.ts";

const version = "cluster-down-v1";
const deps = useOwnedRedisAndEmbedding(version);
const clusters: OwnedCluster[] = [];
afterEach(async () => {
  for (const cluster of clusters.splice(0)) await cluster.destroy();
});

/** An owned three-primary cluster and an env var holding its seed list, as a pod's Secret gives it. */
async function clusterStore(name: string): Promise<{ cluster: OwnedCluster; env: string }> {
  const cluster = await startOwnedCluster({ masters: 3 });
  clusters.push(cluster);
  process.env[name] = cluster.seeds.join(",");
  return { cluster, env: name };
}

it("ends within its pod's grace period on SIGTERM while every node of its Cluster store is down, committing nothing unstored", async () => {
  const topic = uniqueTopic("nl-cluster-down");
  const { cluster, env } = await clusterStore("JUDE_TEST_CLUSTER_DOWN_STORE");
  const base = await jobWorkerConfig(deps.embedding, { topic, storeUrl: deps.redis.url });
  const config = {
    ...base,
    sinks: { ...base.sinks, store: { ...base.sinks.store, url: { env }, cluster: true } },
  };
  const file = join(mkdtempSync(join(tmpdir(), "nl-cluster-down-")), "config.json");
  writeFileSync(file, JSON.stringify(config));
  const group = config.source.kafka.consumerGroup;
  const ids = ["c0", "c1", "c2", "c3"];
  // Held with its first batch embedded; SIGTERM releases it into its writes, to a cluster now gone.
  const jude = startHeldWorker(topic, file, "embedded");
  const log = () => (existsSync(jude.logFile) ? readFileSync(jude.logFile, "utf8") : "");
  try {
    await produceEvents(topic, jobEvents(ids, 1_000));
    await jude.held;
    for (const node of cluster.nodes) await node.kill();
    const terminated = Date.now();
    jude.child.kill("SIGTERM");
    const ended = await Promise.race([
      jude.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), workerTerminationGraceSeconds * 1000)),
    ]);
    expect(ended, `still running ${Date.now() - terminated} ms after SIGTERM: ${log()}`).toBe(true);
    expect(jude.child.exitCode, log()).toBe(0);
    // At least once: the batch the store never took stays uncommitted.
    expect(await committedOffsets(group, topic)).toBe(0);

    // The next worker, on the cluster back (here a new one: the old nodes' data died with them),
    // reads the batch again and stores it.
    const back = await clusterStore("JUDE_TEST_CLUSTER_BACK_STORE");
    const rerun = await startInProcessNearline({
      ...config,
      sinks: { ...config.sinks, store: { ...config.sinks.store, url: { env: back.env } } },
      http: { ...config.http, port: 0 },
    });
    try {
      await waitFor(
        "the rerun to commit the batch",
        async () => (await committedOffsets(group, topic)) === ids.length,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    } finally {
      await rerun.app.stop();
      rerun.closeConnection();
    }
    const direct = connectRedis({ clusterNodes: back.cluster.seeds });
    try {
      const store = await openStore(direct, { name: config.sinks.store.name });
      expect(await liveIds(store, version, ids)).toEqual(ids);
    } finally {
      await direct.quit();
    }
  } finally {
    jude.child.kill("SIGKILL");
  }
}, 180_000);

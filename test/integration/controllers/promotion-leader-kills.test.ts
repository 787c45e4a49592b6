// Two operator replicas competing for the Lease through a promotion v1 -> v2 on the testbed's real API
// server (kwok nodes; bootstrap shards and worker lag played as in promotion.test.ts). The leader is
// killed at each phase of the promotion (v2 Bootstrapping, CatchingUp, the moment the pointer moved,
// v1 Draining in the bake): its connection to the API server is cut and dropped (it releases no
// Lease, and nothing it had not sent arrives), and a new standby is started. The replica that takes
// over finishes the promotion exactly once: one BootstrapRun for v2, one flip (the pointer's epoch one
// past v1's), one Promoted Event, the bake's start kept, and the query Service never on v2 before the
// pointer.
import { KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import type { Redis } from "ioredis";
import { connectRedis, controlKeys, readPointer, type Store } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import { apiServerAddress, kubeconfigThrough, startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, testImages, type Json } from "../operator/operator-harness.ts";
import {
  applyObjects,
  embeddingModelEvents,
  finishBootstrap,
  reportCaughtUp,
  setUpPromotion,
  startManager,
  writeVectors,
  type PromotionSetup,
} from "./harness.ts";
import { promotionModelAt as modelAt, versionDigest } from "./objects.ts";

const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };
const leaseName = "jude-operator-leader-kills";

interface Replica {
  identity: string;
  link: TcpLink;
  stop: () => Promise<void>;
}

describe("a promotion whose leader is killed at each phase", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;
  const replicas = new Map<string, Replica>();
  let started = 0;
  let v1Epoch = 0;
  let watching = true;
  const ahead: string[] = [];
  let watch: Promise<void> | undefined;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
  const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
  const versionOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version);
  const phaseOf = async (version: string) => (await versionOf(version))?.phase;
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const promotedEvents = async () =>
    (await embeddingModelEvents(namespace, ",reason=Promoted")).map((event) => event.message as string);
  const runsOf = async (version: string) =>
    (await kubectlJson<{ items: Json[] }>(["get", "bootstrapruns", "-n", namespace])).items.filter((run) =>
      ((run.spec as Json).modelVersion ?? (run.metadata as Json).name)?.toString().includes(version),
    );
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 120_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 100 });

  async function startReplica(): Promise<void> {
    started += 1;
    const identity = `faultops-replica-${started}`;
    const link = await startTcpLink(apiServerAddress(requireEnv("KUBECONFIG")));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigThrough(requireEnv("KUBECONFIG"), link.port));
    const stop = startManager(
      namespace,
      identity,
      (manager) =>
        manager.add(
          embeddingModelController({
            images: testImages,
            concurrency: 2,
            registry: manager.metrics.registry,
            measureParity: async () => passing,
          }),
        ),
      {
        kubeConfig,
        leaderElection: {
          namespace,
          name: leaseName,
          identity,
          leaseDurationMs: 5_000,
          renewDeadlineMs: 4_000,
          retryPeriodMs: 1_000,
        },
      },
    );
    replicas.set(identity, { identity, link, stop });
  }

  const holder = async () =>
    ((await kubectlJson<Json>(["get", "lease", leaseName, "-n", namespace])).spec as Json)
      .holderIdentity as string;

  /** Kills the Lease holder (no release, nothing unsent delivered) and starts a new standby. */
  async function killLeader(identity?: string): Promise<string> {
    identity ??= await holder();
    const leader = replicas.get(identity)!;
    leader.link.freeze();
    const stopped = leader.stop();
    await leader.link.close();
    await stopped;
    replicas.delete(identity);
    await startReplica();
    return identity;
  }

  /** Until the new leader (not `killed`) holds the Lease. */
  const takenOver = (killed: string) =>
    until("a standby took over", async () => {
      const now = await holder().catch(() => killed);
      return now !== killed && replicas.has(now);
    });

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-leader-kills-faultops", () => passing);
    ({ namespace, store } = setup);
    await setup.operator.stop(); // the replicas below replace the harness's single operator
    await startReplica();
    await startReplica();
    await applyObjects(namespace, [modelAt("v1", { cutover: "Manual", approvedVersion: "v1" })]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    await writeVectors(store, "v1", `sha256:${versionDigest("v1")}`, ["j0", "j1", "j2"]);
    await finishBootstrap(store, namespace, "jobs-v1-promotion", "v1");
    await reportCaughtUp(namespace, "jobs", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    await until("Service on v1", async () => (await querySelector()) === "v1");
    v1Epoch = (await readPointer(store)).epoch;
    watch = (async () => {
      while (watching) {
        const selected = await querySelector().catch(() => undefined);
        const pointer = await readPointer(store).catch(() => undefined);
        if (selected !== undefined && pointer !== undefined && selected !== pointer.current) {
          // The Service follows the pointer: it may lag it, never lead it to a version not yet current.
          const previous = pointer.backup;
          if (selected !== previous)
            ahead.push(`Service on ${String(selected)} while the pointer was ${JSON.stringify(pointer)}`);
        }
        await sleep(100);
      }
    })();
  }, 240_000);

  afterAll(async () => {
    watching = false;
    await watch;
    for (const replica of replicas.values()) {
      await replica.stop();
      await replica.link.close();
    }
    await setup?.stop();
  });

  it("keeps one BootstrapRun when the leader is killed while v2 bootstraps", async () => {
    await applyObjects(namespace, [modelAt("v2", { cutover: "Manual", approvedVersion: "v1" })]);
    await until(
      "v2's run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    expect(await phaseOf("v2")).toBe("Bootstrapping");
    const killed = await killLeader();
    await takenOver(killed);
    await writeVectors(store, "v2", `sha256:${versionDigest("v2")}`, ["j0", "j1", "j2"]);
    await finishBootstrap(store, namespace, "jobs-v2-promotion", "v2");
    await until("v2 CatchingUp", async () => (await phaseOf("v2")) === "CatchingUp");
    expect((await runsOf("v2")).map((run) => (run.metadata as Json).name)).toEqual(["jobs-v2-promotion"]);
  });

  it("reaches AwaitingCutover when the leader is killed while v2 catches up", async () => {
    expect(await phaseOf("v2")).toBe("CatchingUp");
    const killed = await killLeader();
    await takenOver(killed);
    await reportCaughtUp(namespace, "jobs", ["v1", "v2"]);
    await until("v2 AwaitingCutover", async () => (await phaseOf("v2")) === "AwaitingCutover");
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
  });

  it("ends the promotion once when the leader is killed the moment the pointer moved", async () => {
    // Cut the leader off the API server as the flip's notification comes: before the status write,
    // the version records and the query Service that follow the flip.
    const leader = await holder();
    const subscriber = connectRedis({ url: requireEnv("JUDE_REDIS_URL") }) as Redis;
    await subscriber.subscribe(controlKeys(store.layout).flipChannel);
    const flipped = new Promise<void>((resolve) =>
      subscriber.on("message", () => {
        replicas.get(leader)?.link.freeze();
        resolve();
      }),
    );
    await applyObjects(namespace, [modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);
    await flipped;
    subscriber.disconnect();
    const killed = await killLeader(leader);
    await takenOver(killed);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    await until("Service on v2", async () => (await querySelector()) === "v2");
    await until("v1 Draining", async () => (await phaseOf("v1")) === "Draining");
    await until("a Promoted Event for v2", async () =>
      (await promotedEvents()).some((m) => m.includes("to v2")),
    );
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1", epoch: v1Epoch + 1 });
    expect((await promotedEvents()).filter((message) => message.includes("to v2"))).toHaveLength(1);
  });

  it("keeps the bake's start and flips nothing when the leader is killed in the bake", async () => {
    const before = await versionOf("v2");
    expect(await phaseOf("v1")).toBe("Draining");
    const killed = await killLeader();
    await takenOver(killed);
    // A spec change only a leader can observe: the new one reconciled the model since it took over.
    await applyObjects(namespace, [
      modelAt("v2", { cutover: "Manual", approvedVersion: "v2", bakeSeconds: 700 }),
    ]);
    const generation = ((await model()).metadata as Json).generation;
    await until(
      "the new leader observed the change",
      async () => (await status()).observedGeneration === generation,
    );
    expect(await phaseOf("v1")).toBe("Draining");
    expect((await versionOf("v2"))?.activatedTime).toBe(before?.activatedTime);
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1", epoch: v1Epoch + 1 });
    expect(await querySelector()).toBe("v2");
    expect((await promotedEvents()).filter((message) => message.includes("to v2"))).toHaveLength(1);
    expect((await runsOf("v2")).map((run) => (run.metadata as Json).name)).toEqual(["jobs-v2-promotion"]);
  });

  it("hands over at once and promotes once when the leader stops gracefully (SIGTERM) as the pointer moves", async () => {
    await applyObjects(namespace, [modelAt("v3", { cutover: "Manual", approvedVersion: "v2" })]);
    await until(
      "v3's run",
      async () => (await getObject("bootstraprun/jobs-v3-promotion", namespace)) !== undefined,
    );
    await writeVectors(store, "v3", `sha256:${versionDigest("v3")}`, ["j0", "j1", "j2"]);
    await finishBootstrap(store, namespace, "jobs-v3-promotion", "v3");
    await reportCaughtUp(namespace, "jobs", ["v2", "v3"]);
    await until("v3 AwaitingCutover", async () => (await phaseOf("v3")) === "AwaitingCutover");
    const v2Epoch = (await readPointer(store)).epoch;
    const leader = await holder();
    const subscriber = connectRedis({ url: requireEnv("JUDE_REDIS_URL") }) as Redis;
    await subscriber.subscribe(controlKeys(store.layout).flipChannel);
    const flipped = new Promise<void>((resolve) => subscriber.on("message", () => resolve()));
    await applyObjects(namespace, [modelAt("v3", { cutover: "Manual", approvedVersion: "v3" })]);
    await flipped;
    subscriber.disconnect();
    // The manager's stop is what `jude operator` does on SIGTERM: drain, then release the Lease.
    const stopping = replicas.get(leader)!;
    replicas.delete(leader);
    await stopping.stop();
    await stopping.link.close();
    const lease = (await kubectlJson<Json>(["get", "lease", leaseName, "-n", namespace])).spec as Json;
    expect(lease.holderIdentity ?? null, "released, or already taken by the standby").not.toBe(leader);
    await startReplica();
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    await until("Service on v3", async () => (await querySelector()) === "v3");
    await until("a Promoted Event for v3", async () =>
      (await promotedEvents()).some((m) => m.includes("to v3")),
    );
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v2", epoch: v2Epoch + 1 });
    expect((await promotedEvents()).filter((message) => message.includes("to v3"))).toHaveLength(1);
    expect((await runsOf("v3")).map((run) => (run.metadata as Json).name)).toEqual(["jobs-v3-promotion"]);
  });

  it("never pointed the query Service at a version before the store's pointer", () => {
    expect(ahead).toEqual([]);
  });
});

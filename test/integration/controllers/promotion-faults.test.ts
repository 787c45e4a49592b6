// Faults of the parts a promotion's cutover talks to, while the operator is flipping v1 -> v2 on the
// testbed's real API server (kwok nodes; bootstrap shards and worker lag played as in
// promotion.test.ts):
// - the store's Redis (a private redis-server with its append-only file: the testbed's must stay up)
//   killed as the approval comes and started again with its data: no flip while it is down, then one;
// - that Redis hung (SIGSTOP) as the approval comes (the operator's commands time out before the
//   flip), then resumed;
// - that Redis holding writes (CLIENT PAUSE WRITE) longer than the operator's command timeout as the
//   approval comes: the flip script times out in the operator and runs when the pause ends, so the
//   operator's next try finds its own flip done;
// - the operator's connection to the API server cut (a TCP link that passes nothing, both ways) the
//   moment the pointer moved, before the operator could write anything after the flip, for 30 s.
// Each time the promotion ends exactly once: the pointer's epoch one past v1's, the query Service on
// v2 and never on v2 before the pointer, one Promoted Event.
import { KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { connectRedis, openStore, readPointer, type Store } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import { apiServerAddress, kubeconfigThrough, startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { waitFor } from "../../testbed/wait.ts";
import { startOwnedRedis, type OwnedRedis } from "../store/redis-server.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  testImages,
  type Json,
} from "../operator/operator-harness.ts";
import { applyObjects, buildVersion, conditionOf, startManager } from "./harness.ts";
import { pipeline, promotionModelAt as modelAt } from "./objects.ts";

const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };

interface Scene {
  namespace: string;
  redis: OwnedRedis;
  store: Store;
  link: TcpLink;
  stopOperator: () => Promise<void>;
  closeStore: () => void;
}

/** A namespace, a store on a private Redis, the `jobs` pipeline, and the operator behind a TCP link. */
async function startScene(prefix: string): Promise<Scene> {
  await installCrds();
  const namespace = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  await createRestrictedNamespace(namespace);
  const topic = uniqueTopic(prefix);
  await createTopics([topic], 1);
  const redis = await startOwnedRedis();
  const client = connectRedis({ url: redis.url });
  const store = await openStore(client, { name: namespace, create: true });
  const jobs = pipeline("jobs", topic, (spec) => {
    spec.modelRef = { name: "jobs-model" };
    spec.sinks.store.name = namespace;
  });
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "jude-redis" },
    stringData: { url: redis.url },
  };
  await applyObjects(namespace, [secret, jobs]);
  const link = await startTcpLink(apiServerAddress(requireEnv("KUBECONFIG")));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigThrough(requireEnv("KUBECONFIG"), link.port));
  const stopOperator = startManager(
    namespace,
    "promotion-faults",
    (manager) =>
      manager.add(
        embeddingModelController({
          images: testImages,
          concurrency: 2,
          registry: manager.metrics.registry,
          measureParity: async () => passing,
        }),
      ),
    // A short back-off cap and error report: the outages here are seconds, not the minutes the
    // defaults are made for.
    { kubeConfig, retry: { qps: 10, burst: 100, maxDelayMs: 1_000 }, reconcileErrorAfterMs: 2_000 },
  );
  return { namespace, redis, store, link, stopOperator, closeStore: () => client.disconnect() };
}

describe("a promotion's flip through faults of the store and the API server", () => {
  let scene: Scene | undefined;
  const scenes: Scene[] = [];

  const model = async () => (await getObject("embeddingmodel/jobs-model", scene!.namespace)) as Json;
  const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
  const phaseOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version)?.phase;
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", scene!.namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const promotedEvents = async () =>
    (
      await kubectlJson<{ items: Json[] }>([
        "get",
        "events",
        "-n",
        scene!.namespace,
        "--field-selector",
        "involvedObject.kind=EmbeddingModel,reason=Promoted",
      ])
    ).items.map((event) => event.message as string);
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 120_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 100 });

  /** Until `stop`: fails when the query Service selects v2 while the pointer is not on v2. */
  function watchServiceAhead(): { stop: () => Promise<string[]> } {
    let running = true;
    const ahead: string[] = [];
    const { store } = scene!;
    const loop = (async () => {
      while (running) {
        const selected = await querySelector().catch(() => undefined);
        const pointer = await readPointer(store).catch(() => undefined);
        if (selected === "v2" && pointer !== undefined && pointer.current !== "v2")
          ahead.push(`Service on v2 while the pointer was on ${String(pointer.current)}`);
        await sleep(100);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return ahead;
      },
    };
  }

  /** v1 promoted, v2 built and waiting for its approval; returns the pointer's epoch after v1. */
  async function v2AwaitingCutover(prefix: string): Promise<number> {
    scene = await startScene(prefix);
    scenes.push(scene);
    const { namespace, store } = scene;
    await applyObjects(namespace, [modelAt("v1", { cutover: "Manual", approvedVersion: "v1" })]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    await until("Service on v1", async () => (await querySelector()) === "v1");
    await applyObjects(namespace, [modelAt("v2", { cutover: "Manual", approvedVersion: "v1" })]);
    await until(
      "v2's run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    await buildVersion(store, namespace, "v2", ["v1", "v2"]);
    await until("v2 AwaitingCutover", async () => (await phaseOf("v2")) === "AwaitingCutover");
    const pointer = await readPointer(store);
    expect(pointer.current).toBe("v1");
    return pointer.epoch;
  }

  const approveV2 = () =>
    applyObjects(scene!.namespace, [modelAt("v2", { cutover: "Manual", approvedVersion: "v2" })]);

  /** The promotion ended once: one flip past v1's epoch, Service and status on v2, one Promoted Event. */
  async function expectPromotedOnce(v1Epoch: number): Promise<void> {
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    await until("Service on v2", async () => (await querySelector()) === "v2");
    await until("a Promoted Event for v2", async () =>
      (await promotedEvents()).some((m) => m.includes("to v2")),
    );
    const pointer = await readPointer(scene!.store);
    expect(pointer).toMatchObject({ current: "v2", backup: "v1", epoch: v1Epoch + 1 });
    expect((await promotedEvents()).filter((message) => message.includes("to v2"))).toHaveLength(1);
    expect(await getObject("bootstraprun/jobs-v2-promotion", scene!.namespace)).toBeDefined();
  }

  afterEach(async () => {
    scene?.link.thaw();
    scene?.redis.resume();
    await scene?.stopOperator();
    scene?.closeStore();
    await scene?.link.close();
    await scene?.redis.destroy();
    scene = undefined;
  });

  afterAll(async () => {
    for (const { namespace } of scenes) await deleteNamespace(namespace);
  });

  it("does not flip while the store's Redis is down, and flips once when it is back with its data", async () => {
    const v1Epoch = await v2AwaitingCutover("promotion-faults-redis-down");
    const watch = watchServiceAhead();
    await scene!.redis.kill();
    await approveV2();
    // The persistent failure, named as the last try failed (the first is shown at once, as thrown).
    await until("the model's persistent ReconcileError", async () => {
      const stalled = conditionOf(await model(), "Stalled");
      return stalled?.status === "True" && stalled.reason === "ReconcileError";
    });
    // The condition names the store that cannot be reached, not only the command that gave up.
    expect(conditionOf(await model(), "Ready")?.message).toContain(`store "${scene!.namespace}" at `);
    expect(conditionOf(await model(), "Ready")?.message).toContain("is unreachable");
    expect(await querySelector()).toBe("v1");
    expect((await status()).activeVersion).toBe("v1");
    await scene!.redis.restart();
    await expectPromotedOnce(v1Epoch);
    expect(await watch.stop()).toEqual([]);
  });

  it("flips once when the store's Redis hangs as the approval comes, and answers later", async () => {
    const v1Epoch = await v2AwaitingCutover("promotion-faults-redis-hung");
    const watch = watchServiceAhead();
    scene!.redis.pause();
    await approveV2();
    // The first failure is shown at once as it was thrown (`read owner: … Command timed out`); the
    // persistent one (Stalled) is the one that names the store.
    await until("the model's persistent ReconcileError", async () => {
      const stalled = conditionOf(await model(), "Stalled");
      return stalled?.status === "True" && stalled.reason === "ReconcileError";
    });
    // A hung store names itself too (the command timed out on it).
    expect(conditionOf(await model(), "Ready")?.message).toContain(`store "${scene!.namespace}" at `);
    expect(await querySelector()).toBe("v1");
    scene!.redis.resume();
    await expectPromotedOnce(v1Epoch);
    expect(await watch.stop()).toEqual([]);
  });

  it("flips once when the store holds writes (CLIENT PAUSE WRITE) past the flip's command timeout", async () => {
    const v1Epoch = await v2AwaitingCutover("promotion-faults-redis-paused");
    const watch = watchServiceAhead();
    const admin = connectRedis({ url: scene!.redis.url });
    await admin.call("CLIENT", "PAUSE", "15000", "WRITE");
    await approveV2();
    await until("the pointer on v2", async () => (await readPointer(scene!.store)).current === "v2");
    admin.disconnect();
    await expectPromotedOnce(v1Epoch);
    expect(await watch.stop()).toEqual([]);
  });

  it("ends the promotion once when its API connection is cut right after the flip", async () => {
    const v1Epoch = await v2AwaitingCutover("promotion-faults-api-cut");
    const { link, store } = scene!;
    const watch = watchServiceAhead();
    await approveV2();
    // Cut the moment the pointer moved: what the operator writes after the flip (status, records,
    // Service) is held back or fails.
    await waitFor("the flip", async () => (await readPointer(store)).current === "v2", {
      timeoutMs: 120_000,
      intervalMs: 5,
    });
    link.freeze();
    await sleep(30_000); // the outage itself
    link.thaw();
    await expectPromotedOnce(v1Epoch);
    expect(await watch.stop()).toEqual([]);
  });
});

// What a platform engineer does to nodes under the EmbeddingModel controller's serving pods, on the
// testbed's real API server, scheduler and controller-manager (eviction API, PDB controller, pod GC)
// with two kwok GPU nodes of this file's own (labelled and tainted so nothing else lands there, and
// the operator's placement puts the pods only there): a drain respects the PDB and completes, the
// pods come back on the other node; a lost node's pods are recreated; a model whose GPU cannot be
// found says Unschedulable with the scheduler's reason.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { nodeManifest } from "../../testbed/node-manifest.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  listObjects,
  startInProcessOperator,
  type Json,
} from "./operator-harness.ts";

const run = promisify(execFile);
const namespace = `nodes-${process.pid}`;
const poolKey = "testbed.jude.dev/pool";
const pool = namespace;
const nodeNames = [`${namespace}-gpu-a`, `${namespace}-gpu-b`];

/** A kwok node with `gpus` GPUs that only this file's pods tolerate and select. */
function poolNode(name: string, gpus: number): Json {
  return nodeManifest({
    name,
    gpus,
    labels: { type: "kwok", [poolKey]: pool },
    annotations: { "kwok.x-k8s.io/node": "fake" },
    taints: [{ key: poolKey, value: pool, effect: "NoSchedule" }],
  }) as unknown as Json;
}

/** A GPU model (one nvidia.com/gpu per replica) with `replicas`. */
function gpuModel(name: string, replicas: number): Json {
  return cpuModel(namespace, name, { replicas, accelerator: { resourceName: "nvidia.com/gpu", count: 1 } });
}

async function waitForModel(name: string, predicate: (model: Json) => boolean, timeoutMs = 120_000) {
  let found: Json | undefined;
  try {
    await waitFor(
      `embeddingmodel ${name} to reach the expected state`,
      async () => {
        found = await getObject(`embeddingmodel/${name}`, namespace);
        return found !== undefined && predicate(found);
      },
      { timeoutMs, intervalMs: 300 },
    );
  } catch (error) {
    throw new Error(`${String(error)}; its Ready condition: ${JSON.stringify(condition(found, "Ready"))}`, {
      cause: error,
    });
  }
  return found as Json;
}

/** Evicts a pod through the Eviction API, as kubectl drain does; rejects with the server's refusal. */
async function evict(pod: string): Promise<void> {
  await kubectl(
    ["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${pod}/eviction`, "-f", "-"],
    JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace } }),
  );
}

/** `kubectl drain` of a node; its whole output (the eviction retries are on stderr). */
async function drain(node: string): Promise<string> {
  const { stdout, stderr } = await run(requireEnv("JUDE_KUBECTL"), [
    "--kubeconfig",
    requireEnv("KUBECONFIG"),
    "drain",
    node,
    "--ignore-daemonsets",
    "--delete-emptydir-data",
    "--timeout=120s",
  ]);
  return `${stdout}\n${stderr}`;
}

const ready = (model: Json) => condition(model, "Ready")?.status === "True";
const servingPods = (model: string) =>
  listObjects("pods", namespace, `jude.dev/model=${model},app.kubernetes.io/component=serving`);
const podNode = (pod: Json) => (pod.spec as Json).nodeName as string | undefined;
const podReady = (pod: Json) =>
  (((pod.status as Json).conditions ?? []) as { type: string; status: string }[]).some(
    (entry) => entry.type === "Ready" && entry.status === "True",
  );
const live = (pods: Json[]) => pods.filter((pod) => (pod.metadata as Json).deletionTimestamp === undefined);

describe("serving pods under node drains and node loss", () => {
  let operator: ReturnType<typeof startInProcessOperator>;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    await apply(nodeNames.map((name) => poolNode(name, 2)));
    operator = startInProcessOperator([namespace], {
      placement: {
        nodeSelector: { [poolKey]: pool },
        tolerations: [{ key: poolKey, operator: "Equal", value: pool, effect: "NoSchedule" }],
      },
    });
  });

  // A failed case leaves no model holding GPUs the next case counts on.
  afterEach(async () => {
    await kubectl(["delete", "embeddingmodel", "--all", "-n", namespace, "--wait=true"]);
  });

  afterAll(async () => {
    await operator?.stop();
    await deleteNamespace(namespace);
    await kubectl(["delete", "node", ...nodeNames, "--ignore-not-found", "--wait=false"]);
  });

  it("drains a node under a 2-replica model: the PDB keeps one pod serving, the drain completes, the pods come back on the other node", async () => {
    // Both replicas on one node (the other cordoned meanwhile), so the drain has to evict both.
    const [drainedNode, otherNode] = nodeNames as [string, string];
    await kubectl(["cordon", otherNode]);
    try {
      await apply([gpuModel("drained", 2)]);
      await waitForModel("drained", ready);
      // The scheduler learns of the cordon through its watch of the Node; under load a pod may be
      // placed before that (seen in CI). Such a pod is deleted, and its replacement lands as meant.
      await waitFor("both replicas ready on the node to drain", async () => {
        const now = live(await servingPods("drained"));
        for (const pod of now.filter((candidate) => podNode(candidate) === otherNode))
          await kubectl([
            "delete",
            "pod",
            (pod.metadata as Json).name as string,
            "-n",
            namespace,
            "--wait=false",
          ]);
        return now.length === 2 && now.every((pod) => podNode(pod) === drainedNode && podReady(pod));
      });
      await waitForModel(
        "drained",
        (model) => ready(model) && ((model.status as Json).versions as Json[])[0]?.readyReplicas === 2,
      );
    } finally {
      await kubectl(["uncordon", otherNode]);
    }
    const pods = live(await servingPods("drained"));
    expect(pods.map(podNode)).toEqual([drainedNode, drainedNode]);
    const pdb = (await getObject("pdb/drained-v1", namespace)) as Json;
    expect((pdb.spec as Json).maxUnavailable).toBe(1);
    await waitFor("the PDB to allow one disruption", async () => {
      const status = ((await getObject("pdb/drained-v1", namespace)) as Json).status as Json;
      return status.disruptionsAllowed === 1;
    });
    // The PDB covers both pods: once one is evicted, the other may not be until the first one's
    // replacement is ready. Both nodes are cordoned meanwhile, so the replacement stays Pending and
    // the budget stays spent (kwok would otherwise make it ready within moments).
    await kubectl(["cordon", drainedNode, otherNode]);
    try {
      await evict((pods[0]!.metadata as Json).name as string);
      const refused = await evict((pods[1]!.metadata as Json).name as string).then(
        () => "evicted",
        (error: unknown) => String(error),
      );
      expect(refused).toContain("Cannot evict pod as it would violate the pod's disruption budget");
    } finally {
      await kubectl(["uncordon", otherNode]);
    }
    try {
      expect(await drain(drainedNode)).toContain(`node/${drainedNode} drained`);
      await waitFor("both replicas ready on the other node", async () => {
        const now = live(await servingPods("drained"));
        return now.length === 2 && now.every((pod) => podNode(pod) === otherNode && podReady(pod));
      });
      await waitForModel(
        "drained",
        (model) => ready(model) && ((model.status as Json).versions as Json[])[0]?.readyReplicas === 2,
      );
    } finally {
      await kubectl(["uncordon", drainedNode]);
    }
    await kubectl(["delete", "embeddingmodel", "drained", "-n", namespace, "--wait=true"]);
  });

  // A 1-replica version has no second pod to serve while its only one moves: maxUnavailable 1 (not
  // minAvailable 1, which would refuse every eviction and block the drain forever) accepts that gap.
  it("drains a node under a 1-replica model: the PDB does not block the drain, the pod comes back on the other node", async () => {
    await apply([gpuModel("single", 1)]);
    await waitForModel("single", ready);
    const [pod] = await servingPods("single");
    const drainedNode = podNode(pod!)!;
    const pdb = (await getObject("pdb/single-v1", namespace)) as Json;
    expect((pdb.spec as Json).maxUnavailable).toBe(1);
    await waitFor("the PDB to allow one disruption", async () => {
      const status = ((await getObject("pdb/single-v1", namespace)) as Json).status as Json;
      return status.disruptionsAllowed === 1;
    });
    try {
      const drainLog = await drain(drainedNode);
      expect(drainLog).toContain(`node/${drainedNode} drained`);
      expect(drainLog).not.toContain("disruption budget");
      await waitFor("the replacement pod ready on the other node", async () => {
        const now = live(await servingPods("single"));
        return (
          now.length === 1 &&
          (now[0]!.metadata as Json).name !== (pod!.metadata as Json).name &&
          podNode(now[0]!) !== drainedNode &&
          podReady(now[0]!)
        );
      });
      await waitForModel(
        "single",
        (model) => ready(model) && ((model.status as Json).versions as Json[])[0]?.readyReplicas === 1,
      );
    } finally {
      await kubectl(["uncordon", drainedNode]);
    }
    await kubectl(["delete", "embeddingmodel", "single", "-n", namespace, "--wait=true"]);
  });

  it("says Unschedulable with the scheduler's reason when no GPU is free, and turns Ready once one is", async () => {
    // Both pool nodes hold 2 GPUs: a 5-replica model leaves one replica without a GPU.
    await apply([gpuModel("crowded", 5)]);
    try {
      // The scheduler can refuse the fifth pod before the other four are ready (seen under load: the
      // first Unschedulable status said 0/5): wait for the four to be counted too.
      const waiting = await waitForModel(
        "crowded",
        (model) =>
          condition(model, "Ready")?.reason === "Unschedulable" &&
          ((model.status as Json).versions as Json[])[0]?.readyReplicas === 4,
        60_000,
      );
      expect(condition(waiting, "Ready")?.status).toBe("False");
      expect(condition(waiting, "Ready")?.message).toMatch(
        /4\/5 replicas ready.*Insufficient nvidia\.com\/gpu/,
      );
      expect(condition(waiting, "Reconciling")?.status).toBe("True");
      await kubectl([
        "patch",
        "embeddingmodel",
        "crowded",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"serving":{"replicas":4}}}',
      ]);
      await waitForModel("crowded", ready);
    } finally {
      await kubectl(["delete", "embeddingmodel", "crowded", "-n", namespace, "--wait=true"]);
    }
  });

  it("replaces the pods of a lost node: the status names the missing replica and why, then recovers when a node joins", async () => {
    // Two nodes of 2 GPUs hold 3 replicas; when one node is lost the other has room for 2 only.
    await apply([gpuModel("lost", 3)]);
    await waitForModel("lost", ready);
    const pods = await servingPods("lost");
    const lostNode = podNode(pods[0]!)!;
    // The machine is gone: its Node is deleted (what a cloud's node lifecycle does with a vanished VM;
    // kwok nodes cannot be made to stop heartbeating, so NotReady itself is not played here). The pod
    // garbage collector deletes the pods bound to it, and the ReplicaSet recreates them.
    await kubectl(["delete", "node", lostNode, "--wait=true"]);
    const gap = await waitForModel(
      "lost",
      (model) =>
        condition(model, "Ready")?.reason === "Unschedulable" &&
        ((model.status as Json).versions as Json[])[0]?.readyReplicas === 2,
      180_000,
    );
    expect(condition(gap, "Ready")?.status).toBe("False");
    expect(condition(gap, "Ready")?.message).toMatch(/2\/3 replicas ready.*Insufficient nvidia\.com\/gpu/);
    // A replacement machine joins under the same name.
    await apply([poolNode(lostNode, 2)]);
    await waitForModel(
      "lost",
      (model) => ready(model) && ((model.status as Json).versions as Json[])[0]?.readyReplicas === 3,
      180_000,
    );
    const now = live(await servingPods("lost"));
    expect(now.length).toBe(3);
    expect(now.every(podReady)).toBe(true);
  });
});

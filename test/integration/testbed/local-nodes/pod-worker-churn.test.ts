/**
 * A pod worker on the real kernel (root), on a private bridge: its containers, network namespace and
 * volumes are real; only the cluster behind it (API server, caches) is a hand-written stand-in, so
 * the interleavings the agent meets under churn can be made to happen every time.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentContext } from "../../../testbed/local-nodes/agent-context.ts";
import {
  routedCidrs,
  setupHostNetwork,
  teardownHostNetwork,
} from "../../../testbed/local-nodes/host-network.ts";
import { hostTree } from "../../../testbed/local-nodes/host-tree.ts";
import { ImageStore } from "../../../testbed/local-nodes/image-store.ts";
import { planNetwork, type NetworkPlan } from "../../../testbed/local-nodes/network-plan.ts";
import { PodWorker } from "../../../testbed/local-nodes/pod-worker.ts";
import type { VolumeSources } from "../../../testbed/local-nodes/volumes.ts";
import { waitFor } from "../../../testbed/wait.ts";

const plan: NetworkPlan = planNetwork(`/pod-worker-churn-test/${process.pid}`, routedCidrs());
const dir = mkdtempSync(join(tmpdir(), "pod-worker-churn-"));
const logs: string[] = [];

/** A stand-in cluster whose PersistentVolumeClaim lookups answer only when the test says so. */
function cluster(finalizeDeletion: AgentContext["finalizeDeletion"] = async () => undefined): {
  context: AgentContext;
  claimLookups: (() => void)[];
} {
  const claimLookups: (() => void)[] = [];
  const volumeSources: VolumeSources = {
    configMap: () => undefined,
    secret: () => undefined,
    claimPath: () => new Promise((resolve) => claimLookups.push(() => resolve(join(dir, "claim")))),
    token: async () => "token",
  };
  const context: AgentContext = {
    plan,
    dir: join(dir, "agent"),
    logDir: join(dir, "logs"),
    loopbackPorts: [],
    host: hostTree,
    baseMounts: [],
    runFrom: "checkout",
    images: new ImageStore(plan.tag, (message) => logs.push(message)),
    volumeSources,
    envSources: () => ({ configMap: () => undefined, secret: () => undefined, serviceEnv: {} }),
    services: () => [],
    headlessAddresses: () => [],
    writeStatus: async () => undefined,
    finalizeDeletion,
    log: (message) => logs.push(message),
  };
  return { context, claimLookups };
}

function podWithClaim(): V1Pod {
  return {
    metadata: { name: "churn", namespace: "default", uid: `uid-${Date.now()}` },
    spec: {
      nodeName: "local-cpu-0",
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 1,
      // A claim (looked up on the API server at each resync), then a volume written after it.
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: "data" } },
        { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      ],
      containers: [
        {
          name: "main",
          image: "ghcr.io/jude-dev/jude:testbed",
          command: ["/bin/sleep", "600"],
          volumeMounts: [
            { name: "data", mountPath: "/data" },
            { name: "shm", mountPath: "/dev/shm" },
          ],
        },
      ],
    },
  };
}

describe("local pod worker under churn", () => {
  beforeAll(() => {
    mkdirSync(join(dir, "claim"));
    setupHostNetwork(plan);
  });

  afterAll(() => {
    teardownHostNetwork(plan);
    rmSync(dir, { recursive: true, force: true });
  });

  it("leaves nothing behind when the pod is killed while a step waits on the API server", async () => {
    const { context, claimLookups } = cluster();
    const pod = podWithClaim();
    const worker = new PodWorker(context, pod, 2);
    const [run] = worker.containers;
    // Tick (answering the claim lookups) until the container runs.
    await waitFor(
      "the container to start",
      async () => {
        const ticking = worker.tick(Date.now());
        await new Promise((done) => setTimeout(done, 20));
        for (const answer of claimLookups.splice(0)) answer();
        await ticking;
        return run!.started;
      },
      { timeoutMs: 30_000 },
    );
    const podDir = worker.sandbox!.podDir;

    // The Pod vanishes (force-deleted, or replaced under its name) while a volume resync waits on
    // the API server: the agent kills the worker at once. The API server answers afterwards.
    await new Promise((done) => setTimeout(done, 2_100));
    const resync = worker.tick(Date.now());
    await waitFor("a claim lookup", () => claimLookups.length > 0, { timeoutMs: 5_000, intervalMs: 10 });
    const killed = worker.kill();
    await waitFor("the container to exit", () => !run!.running, { timeoutMs: 5_000, intervalMs: 10 });
    // The API server answers 1 s later (the worker is still waiting on it, or its sandbox is gone).
    await new Promise((done) => setTimeout(done, 1_000));
    for (const answer of claimLookups.splice(0)) answer();
    await Promise.all([resync, killed]);

    const mounts = execFileSync("findmnt", ["-rn", "-o", "TARGET"], { encoding: "utf8" })
      .split("\n")
      .filter((target) => target.startsWith(podDir));
    for (const target of mounts) execFileSync("umount", ["-l", target]);
    expect({ podDir: existsSync(podDir), mounts, running: run!.running }).toEqual({
      podDir: false,
      mounts: [],
      running: false,
    });
  });

  it("retries the final delete when the API server fails it once, and the agent lives on", async () => {
    // A DELETE can fail for a moment (a kept-alive connection the server just closed: "socket hang
    // up"; 429 or 5xx under load). That must not end the agent (an unhandled rejection would).
    const deletes: string[] = [];
    const { context } = cluster(async () => {
      deletes.push(deletes.length === 0 ? "failed" : "done");
      if (deletes.length === 1)
        throw new Error("DELETE /api/v1/namespaces/default/pods/churn: socket hang up");
    });
    const pod = podWithClaim();
    pod.spec!.volumes = [];
    pod.spec!.containers[0]!.volumeMounts = [];
    const worker = new PodWorker(context, pod, 3);
    const [run] = worker.containers;
    await waitFor("the container to start", async () => {
      await worker.tick(Date.now());
      return run!.started;
    });
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    worker.pod = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date() } };
    const deleted = await waitFor(
      "the pod to be deleted",
      async () => {
        await worker.tick(Date.now());
        return worker.done;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    ).then(
      () => true,
      () => false,
    );
    process.off("unhandledRejection", onRejection);
    expect({
      deleted,
      deletes,
      rejections: rejections.map(String),
      sandbox: worker.sandbox,
      running: run!.running,
    }).toEqual({
      deleted: true,
      deletes: ["failed", "done"],
      rejections: [],
      sandbox: undefined,
      running: false,
    });
  });
});

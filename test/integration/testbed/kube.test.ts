import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";

const namespace = `testbed-smoke-${process.pid}`;

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
}

describe("kube + kwok: the real control plane with simulated nodes", () => {
  beforeAll(async () => {
    await kubectl(["create", "namespace", namespace]);
  });
  afterAll(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  });

  it("schedules a Deployment requesting nvidia.com/gpu onto a simulated GPU node and makes it Available", async () => {
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "gpu-smoke", namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "gpu-smoke" } },
        template: {
          metadata: { labels: { app: "gpu-smoke" } },
          spec: {
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            containers: [
              {
                name: "server",
                image: "example.invalid/embedder:1",
                resources: { limits: { "nvidia.com/gpu": "1" } },
              },
            ],
          },
        },
      },
    };
    await kubectl(["apply", "-f", "-"], JSON.stringify(deployment));
    await kubectl([
      "wait",
      "-n",
      namespace,
      "deployment/gpu-smoke",
      "--for=condition=Available",
      "--timeout=90s",
    ]);

    const pods = await kubectlJson<{ items: Pod[] }>(["get", "pods", "-n", namespace, "-l", "app=gpu-smoke"]);
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0]!;
    expect(pod.spec.nodeName).toMatch(/^kwok-gpu-/);
    expect(pod.status.phase).toBe("Running");
    const node = await kubectlJson<{ metadata: { labels: Record<string, string> } }>([
      "get",
      "node",
      pod.spec.nodeName!,
    ]);
    expect(node.metadata.labels["nvidia.com/gpu.present"]).toBe("true");
  });

  it("keeps a GPU pod without the toleration off the tainted GPU nodes", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "no-toleration", namespace },
      spec: {
        containers: [
          { name: "c", image: "example.invalid/x:1", resources: { limits: { "nvidia.com/gpu": "1" } } },
        ],
      },
    };
    await kubectl(["apply", "-f", "-"], JSON.stringify(pod));
    await waitFor(
      "the scheduler to report the pod unschedulable",
      async () => {
        const current = await kubectlJson<Pod>(["get", "pod", "no-toleration", "-n", namespace]);
        return (
          current.status.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False") ?? false
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const current = await kubectlJson<Pod>(["get", "pod", "no-toleration", "-n", namespace]);
    expect(current.spec.nodeName).toBeUndefined();
  });

  it("runs an Indexed Job to completion", async () => {
    const job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "indexed-smoke", namespace },
      spec: {
        completionMode: "Indexed",
        completions: 3,
        parallelism: 3,
        template: {
          spec: {
            restartPolicy: "Never",
            containers: [{ name: "shard", image: "example.invalid/bootstrap:1" }],
          },
        },
      },
    };
    await kubectl(["apply", "-f", "-"], JSON.stringify(job));
    await kubectl([
      "wait",
      "-n",
      namespace,
      "job/indexed-smoke",
      "--for=condition=Complete",
      "--timeout=120s",
    ]);
    const finished = await kubectlJson<{ status: { succeeded?: number; completedIndexes?: string } }>([
      "get",
      "job",
      "indexed-smoke",
      "-n",
      namespace,
    ]);
    expect(finished.status.succeeded).toBe(3);
    expect(finished.status.completedIndexes).toBe("0-2");
  });
});

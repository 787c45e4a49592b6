import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { kubectl, kubectlJson } from "../../../support/kubectl.ts";
import { apply, eventually, judeImage, onLocalNode, pods, withLocalNodes } from "./helpers.ts";
import type { V1Pod, V1PodStatus } from "@kubernetes/client-node";
import { parse } from "yaml";
import { writePodStatus } from "../../../testbed/local-nodes/agent.ts";
import { KubeApi } from "../../../testbed/local-nodes/kube-api.ts";

const namespace = `local-jobs-${process.pid}`;
const outDir = mkdtempSync(join(tmpdir(), "jude-local-shards-"));

interface Job {
  status: {
    succeeded?: number;
    failed?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

/** An Indexed Job whose shards run `script` in the project's image with /out shared with the host. */
function indexedJob(name: string, script: string, extra: Record<string, unknown> = {}): object {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace },
    spec: {
      completionMode: "Indexed",
      completions: 3,
      parallelism: 3,
      backoffLimit: 1,
      ...extra,
      template: {
        spec: {
          ...onLocalNode(),
          restartPolicy: "Never",
          containers: [
            {
              name: "shard",
              image: judeImage,
              command: ["sh", "-c", script],
              volumeMounts: [{ name: "out", mountPath: "/out" }],
            },
          ],
          volumes: [{ name: "out", hostPath: { path: outDir, type: "Directory" } }],
        },
      },
    },
  };
}

const job = (name: string): Promise<Job> => kubectlJson<Job>(["get", "job", name, "-n", namespace]);
const condition = (current: Job, type: string) =>
  current.status.conditions?.find((c) => c.type === type && c.status === "True");

/** A client of the testbed's API server as the agent has it (the admin certificate of $KUBECONFIG). */
function adminApi(): KubeApi {
  const config = parse(readFileSync(process.env.KUBECONFIG!, "utf8")) as {
    clusters: { cluster: { server: string; "certificate-authority": string } }[];
    users: { user: { "client-certificate": string; "client-key": string } }[];
  };
  const { cluster } = config.clusters[0]!;
  const { user } = config.users[0]!;
  return new KubeApi({
    server: cluster.server,
    ca: cluster["certificate-authority"],
    cert: user["client-certificate"],
    key: user["client-key"],
  });
}

/** Waits until a shard of Job `name` runs and its script marked /out/<name>-ran; returns the pod's name. */
async function runningShard(name: string): Promise<string> {
  let shard = "";
  await eventually("the shard to run", async () => {
    const running = (await pods(namespace, `job-name=${name}`)).find((pod) => pod.status.phase === "Running");
    shard = running?.metadata.name ?? "";
    return shard !== "" && readdirSync(outDir).includes(`${name}-ran`);
  });
  return shard;
}

describe("Jobs on local nodes behave as on a cluster", () => {
  withLocalNodes(namespace, () => rmSync(outDir, { recursive: true, force: true }));

  it("completes an Indexed Job of 3 shards, each seeing its own JOB_COMPLETION_INDEX", async () => {
    await apply(
      // Indexed Jobs set each pod's hostname to <job>-<index>; HOSTNAME shows the kubelet honoured it.
      indexedJob(
        "shards",
        'jude --help > /dev/null && echo "index=$JOB_COMPLETION_INDEX pod=$HOSTNAME" > /out/shard-$JOB_COMPLETION_INDEX',
      ),
    );
    await eventually(
      "the Job to complete",
      async () => condition(await job("shards"), "Complete") !== undefined,
    );
    expect((await job("shards")).status.succeeded).toBe(3);
    expect(readdirSync(outDir).sort()).toEqual(["shard-0", "shard-1", "shard-2"]);
    for (const index of [0, 1, 2]) {
      expect(readFileSync(join(outDir, `shard-${index}`), "utf8")).toMatch(
        new RegExp(`^index=${index} pod=shards-${index}\n$`),
      );
    }
  });

  it("retries a failing shard up to backoffLimit, then fails the Job with BackoffLimitExceeded", async () => {
    await apply(
      indexedJob("failing", 'if [ "$JOB_COMPLETION_INDEX" = 1 ]; then exit 3; fi', {
        completions: 2,
        parallelism: 2,
      }),
    );
    await eventually("the Job to fail", async () => condition(await job("failing"), "Failed") !== undefined);
    expect(condition(await job("failing"), "Failed")?.reason).toBe("BackoffLimitExceeded");
    const failedShards = (await pods(namespace, "job-name=failing")).filter(
      (pod) => pod.status.phase === "Failed",
    );
    // The first try and one retry (backoffLimit 1), each ending with the shard's own exit code.
    expect(failedShards).toHaveLength(2);
    for (const pod of failedShards) {
      expect(pod.status.containerStatuses?.[0]?.state.terminated).toMatchObject({
        exitCode: 3,
        reason: "Error",
      });
    }
  });

  it("applies podFailurePolicy to the real exit code", async () => {
    await apply(
      indexedJob("fatal", "exit 42", {
        completions: 1,
        parallelism: 1,
        backoffLimit: 5,
        podFailurePolicy: { rules: [{ action: "FailJob", onExitCodes: { operator: "In", values: [42] } }] },
      }),
    );
    await eventually("the Job to fail", async () => condition(await job("fatal"), "Failed") !== undefined);
    expect(condition(await job("fatal"), "Failed")?.reason).toBe("PodFailurePolicy");
    expect((await job("fatal")).status.failed).toBe(1);
  });

  it("ends an evicted shard Failed before deleting it, so the Job replaces it without counting a failure (podFailurePolicy Ignore)", async () => {
    // What a drain does to a bootstrap shard: the Eviction API adds DisruptionTarget and deletes the
    // pod. The kubelet reports the stopped pod's terminal phase before the deletion completes; the Job
    // controller (with a podFailurePolicy) replaces only pods in a terminal phase.
    await apply(
      indexedJob(
        "evicted",
        "if [ -e /out/evicted-ran ]; then exit 0; fi; touch /out/evicted-ran; trap 'exit 75' TERM; while true; do sleep 0.2; done",
        {
          completions: 1,
          parallelism: 1,
          backoffLimit: 0,
          podFailurePolicy: {
            rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
          },
        },
      ),
    );
    const shard = await runningShard("evicted");
    await kubectl(
      ["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${shard}/eviction`, "-f", "-"],
      JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: shard, namespace } }),
    );
    // A CI run once timed out here (not reproduced): on a timeout, say where the Job and its pods are.
    await eventually(
      "the Job to complete",
      async () => condition(await job("evicted"), "Complete") !== undefined,
      90_000,
    ).catch(async (error: unknown) => {
      const shards = (await pods(namespace, "job-name=evicted")).map((pod) => ({
        name: pod.metadata.name,
        phase: pod.status.phase,
        conditions: pod.status.conditions?.map((c) => `${c.type}=${c.status}`),
        containers: pod.status.containerStatuses?.map((c) => c.state),
      }));
      throw new Error(
        `${(error as Error).message}; job status ${JSON.stringify((await job("evicted")).status)}; pods ${JSON.stringify(shards)}`,
      );
    });
    const status = (await job("evicted")).status;
    expect(status.succeeded).toBe(1);
    expect(status.failed ?? 0).toBe(0);
  });

  it("never removes the eviction's DisruptionTarget with a status built before it (the write is refused as stale)", async () => {
    // The race behind a CI run where the evicted shard's Job failed (BackoffLimitExceeded): the agent
    // built a status (Ready as the container came up) just before the Eviction API added DisruptionTarget,
    // and its merge patch, which replaces the conditions list whole, landed after. The pod here is on no
    // node, so no agent writes it beside the test.
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "stale-view", namespace },
      spec: { nodeName: "no-such-node", containers: [{ name: "main", image: judeImage }] },
    });
    const viewed = await kubectlJson<V1Pod>(["get", "pod", "stale-view", "-n", namespace]);
    // What the Eviction API writes before it deletes the pod.
    // (With its transition time: the disruption controller resets one without it as stale at once.)
    const disruption = {
      type: "DisruptionTarget",
      status: "True",
      reason: "EvictionByEvictionAPI",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    await kubectl([
      "patch",
      "pod",
      "stale-view",
      "-n",
      namespace,
      "--subresource=status",
      "--type=strategic",
      "-p",
      JSON.stringify({ status: { conditions: [disruption] } }),
    ]);
    const fromView: V1PodStatus = {
      phase: "Running",
      conditions: [...(viewed.status?.conditions ?? []), { type: "Ready", status: "True" }],
    };
    const api = adminApi();
    await expect(writePodStatus(api, viewed, fromView)).rejects.toMatchObject({ status: 409 });
    const fresh = await kubectlJson<V1Pod>(["get", "pod", "stale-view", "-n", namespace]);
    expect(fresh.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toContain("DisruptionTarget=True");
    // From the newer view the write goes through and keeps it.
    await writePodStatus(api, fresh, {
      ...fromView,
      conditions: [...(fresh.status?.conditions ?? []), { type: "Ready", status: "True" }],
    });
    const written = await kubectlJson<V1Pod>(["get", "pod", "stale-view", "-n", namespace]);
    expect(written.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(
      expect.arrayContaining(["DisruptionTarget=True", "Ready=True"]),
    );
  });

  it("replaces a shard deleted by hand that exits 75 without counting a failure (podFailurePolicy Ignore on its exit code)", async () => {
    // What `kubectl delete pod` does to a bootstrap shard: no DisruptionTarget condition, only SIGTERM;
    // `jude bootstrap` checkpoints and exits 75, which the BootstrapRun's Job ignores by exit code.
    await apply(
      indexedJob(
        "deleted",
        "if [ -e /out/deleted-ran ]; then exit 0; fi; touch /out/deleted-ran; trap 'exit 75' TERM; while true; do sleep 0.2; done",
        {
          completions: 1,
          parallelism: 1,
          backoffLimit: 0,
          podFailurePolicy: {
            rules: [
              { action: "Ignore", onExitCodes: { containerName: "shard", operator: "In", values: [75] } },
            ],
          },
        },
      ),
    );
    const shard = await runningShard("deleted");
    await kubectl(["delete", "pod", shard, "-n", namespace, "--wait=false"]);
    await eventually(
      "the Job to complete",
      async () => condition(await job("deleted"), "Complete") !== undefined,
      90_000,
    ).catch(async (error: unknown) => {
      throw new Error(
        `${(error as Error).message}; job status ${JSON.stringify((await job("deleted")).status)}`,
      );
    });
    const status = (await job("deleted")).status;
    expect(status.succeeded).toBe(1);
    expect(status.failed ?? 0).toBe(0);
  });
});

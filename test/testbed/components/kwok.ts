import { execFile } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Component, ComponentState } from "../component.ts";
import { probe } from "../http-probe.ts";
import { buildScripts, cacheDir, stateDir, versions } from "../paths.ts";
import { freePort } from "../ports.ts";
import { isAlive, startDaemon, stopDaemon } from "../process.ts";
import { goBuildSteps, TestbedStepError } from "../step.ts";
import { waitFor } from "../wait.ts";
import { readState } from "../state.ts";
import { kubectlPath } from "./kube.ts";
import { nodeManifest } from "../node-manifest.ts";
import { guardUnreachable, unguardUnreachable } from "../local-nodes/host-network.ts";

const run = promisify(execFile);

/** The pod range kwok assigns simulated pods from; nothing answers there, so it is routed nowhere. */
const kwokPodCidr = "10.244.0.0/16";

function kwokBinary(): string {
  return process.env.JUDE_KWOK_BIN ?? join(cacheDir(), `kwok-${versions.kwok}`, "bin", "kwok");
}

/** The simulated nodes: two 8-GPU nodes labelled and tainted like the NVIDIA GPU operator does, one CPU node. */
export const simulatedNodes = [
  { name: "kwok-gpu-0", gpus: 8 },
  { name: "kwok-gpu-1", gpus: 8 },
  { name: "kwok-cpu-0", gpus: 0 },
] as const;

/**
 * kwok simulates kubelets: nodes it manages turn Ready, pods bound to them become Running and Ready,
 * and pods of Jobs complete — so Deployments become Available and Jobs succeed without containers.
 */
export const kwok: Component = {
  name: "kwok",
  requires: ["kube"],
  overrides: { JUDE_KWOK_BIN: "a prebuilt kwok binary (v0.7)" },

  provisionSteps() {
    if (process.env.JUDE_KWOK_BIN !== undefined) {
      if (!existsSync(kwokBinary()))
        throw new TestbedStepError("kwok override", `JUDE_KWOK_BIN ${kwokBinary()} does not exist`);
      return [];
    }
    return goBuildSteps({
      entry: `kwok-${versions.kwok}`,
      isComplete: () => existsSync(kwokBinary()),
      script: join(buildScripts, "go-tool.sh"),
      args: [`sigs.k8s.io/kwok@v${versions.kwok}`, "sigs.k8s.io/kwok/cmd/kwok", kwokBinary()],
    });
  },

  async start(previous) {
    const kubeconfig = kubeconfigFromState();
    const port = (previous?.details.port as number | undefined) ?? (await freePort());
    const dir = join(stateDir(), "kwok");
    mkdirSync(dir, { recursive: true });
    // An explicit (empty) configuration so a user's ~/.kwok/kwok.yaml never changes the testbed.
    writeFileSync(
      join(dir, "kwok.yaml"),
      "apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions: {}\n",
    );
    const pid = startDaemon(
      kwokBinary(),
      [
        `--kubeconfig=${kubeconfig}`,
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        `--server-address=127.0.0.1:${port}`,
        "--node-lease-duration-seconds=40",
        `--cidr=${kwokPodCidr.replace(".0/16", ".1/16")}`,
        "--node-ip=10.1.0.1",
        `--config=${join(dir, "kwok.yaml")}`,
      ],
      { logFile: join(stateDir(), "logs", "kwok.log") },
    );
    guardUnreachable(kwokPodCidr);
    const state: ComponentState = { pids: [pid], external: false, env: {}, details: { port, kubeconfig } };
    try {
      await waitFor(
        "kwok /healthz",
        async () => (await probe(`http://127.0.0.1:${port}/healthz`)).status === 200,
      );
      const manifests = join(dir, "nodes.json");
      writeFileSync(
        manifests,
        JSON.stringify({
          apiVersion: "v1",
          kind: "List",
          items: simulatedNodes.map((node) =>
            nodeManifest({
              ...node,
              // Room for the operator benchmark's 400 pretend pods (200 models, 200 pipelines) on
              // three nodes; large nodes raise --max-pods the same way.
              maxPods: 250,
              labels: { type: "kwok" },
              annotations: { "kwok.x-k8s.io/node": "fake" },
            }),
          ),
        }),
      );
      await run(kubectlPath(), [
        "--kubeconfig",
        kubeconfig,
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        manifests,
      ]);
      await waitFor("simulated nodes Ready", () => nodesReady(kubeconfig), {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
    } catch (error) {
      await stopDaemon(pid);
      throw new TestbedStepError("start kwok", String(error), join(stateDir(), "logs", "kwok.log"), {
        cause: error,
      });
    }
    return state;
  },

  async isReady(state) {
    return (
      state.pids.every(isAlive) && (await nodesReady(String(state.details.kubeconfig)).catch(() => false))
    );
  },

  async stop(state) {
    for (const pid of state.pids) await stopDaemon(pid);
    unguardUnreachable(kwokPodCidr);
  },
};

/** The testbed cluster's kubeconfig (never the user's own KUBECONFIG, which may name a real cluster). */
function kubeconfigFromState(): string {
  const path = readState().kube?.env.KUBECONFIG;
  if (path === undefined) throw new TestbedStepError("start kwok", "the kube component is not up");
  return path;
}

async function nodesReady(kubeconfig: string): Promise<boolean> {
  const { stdout } = await run(kubectlPath(), ["--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"]);
  const nodes = (
    JSON.parse(stdout) as {
      items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
    }
  ).items;
  return simulatedNodes.every(({ name }) =>
    nodes.some(
      (node) =>
        node.metadata.name === name &&
        node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    ),
  );
}

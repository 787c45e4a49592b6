// The local-nodes testbed component: starts the local node agent on a bridge of its own and
// cleans every link, route, namespace, mount and process up again on stop.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Component, ComponentState } from "../component.ts";
import type { AgentConfig } from "../local-nodes/agent.ts";
import type { AgentSnapshot } from "../local-nodes/agent-snapshot.ts";
import { setupHostNetwork, teardownHostNetwork } from "../local-nodes/host-network.ts";
import { localNodes } from "../local-nodes/local-node-registry.ts";
import type { NetworkPlan } from "../local-nodes/network-plan.ts";
import { localNodesDir, podLogDir, snapshotFile } from "../local-nodes/paths.ts";
import { unmountBelow } from "../local-nodes/pod-sandbox.ts";
import { repoRoot, stateDir, versions } from "../paths.ts";
import { isAlive, startDaemon, stopDaemon } from "../process.ts";
import { readState } from "../state.ts";
import { installDebianPackages } from "../debian-packages.ts";
import { TestbedStepError } from "../step.ts";
import { waitFor } from "../wait.ts";
import { kubectlPath } from "./kube.ts";

const agentLog = (): string => join(stateDir(), "logs", "local-nodes.log");
/** Commands the agent runs, with the Debian package that provides each. */
const tools: Readonly<Record<string, string>> = {
  ip: "iproute2",
  nsenter: "util-linux",
  unshare: "util-linux",
  iptables: "iptables",
  chroot: "coreutils",
  findmnt: "util-linux",
};

function hasCommand(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Local nodes whose pods really run: an agent registers `local-gpu-0` and `local-cpu-0` and acts as
 * their kubelet, kube-proxy and cluster DNS for pods of the project's image (see the README's testbed
 * section). Needs root (network namespaces, mounts) and the kube component's network plan.
 */
export const localNodesComponent: Component = {
  name: "local-nodes",
  requires: ["kube"],
  overrides: {},

  provisionSteps() {
    if (process.getuid?.() !== 0) {
      throw new TestbedStepError("local-nodes", "local nodes need root (network namespaces, bind mounts)");
    }
    const missing = Object.keys(tools).filter((tool) => !hasCommand(tool));
    if (missing.length === 0) return [];
    return [
      {
        name: "install local-nodes tools",
        lane: "apt",
        run: () =>
          installDebianPackages({
            step: "local-nodes",
            packages: [...new Set(missing.map((tool) => tools[tool] as string))],
            alternative: `install the commands ${missing.join(", ")}`,
          }),
      },
    ];
  },

  async start() {
    const kube = readState().kube;
    if (kube === undefined || kube.external) {
      throw new TestbedStepError(
        "start local-nodes",
        "local nodes need the testbed's own kube component (not an external cluster)",
      );
    }
    const details = kube.details as { network?: NetworkPlan; apiPort: number };
    const plan = details.network;
    if (plan === undefined) {
      throw new TestbedStepError(
        "start local-nodes",
        "the running kube component predates local nodes; run `npm run testbed -- down kube` and up again",
      );
    }
    const runFrom = process.env.JUDE_LOCAL_NODES_RUN_FROM ?? "checkout";
    if (runFrom !== "checkout" && runFrom !== "image") {
      throw new TestbedStepError(
        "start local-nodes",
        `JUDE_LOCAL_NODES_RUN_FROM="${runFrom}": use "checkout" (the default) or "image"`,
      );
    }
    const dir = localNodesDir();
    mkdirSync(join(dir, "launcher", "bin"), { recursive: true });
    const launcher = join(dir, "launcher", "bin", "jude");
    writeFileSync(
      launcher,
      '#!/bin/sh\nexec /.jude-testbed/node/bin/node /.jude-testbed/app/cli/jude.ts "$@"\n',
    );
    chmodSync(launcher, 0o755);
    setupHostNetwork(plan);
    const pki = join(stateDir(), "kube", "pki");
    const config: AgentConfig = {
      plan,
      endpoint: {
        server: `https://127.0.0.1:${details.apiPort}`,
        ca: join(pki, "serving-ca.crt"),
        cert: join(pki, "admin.crt"),
        key: join(pki, "admin.key"),
      },
      apiPort: details.apiPort,
      dir,
      logDir: podLogDir(),
      loopbackPorts: loopbackPorts(),
      baseMounts: [
        { target: "/.jude-testbed/bin", source: dirname(launcher), kind: "dir", readOnly: true },
        {
          target: "/.jude-testbed/node",
          source: dirname(dirname(process.execPath)),
          kind: "dir",
          readOnly: true,
        },
        { target: "/.jude-testbed/app", source: repoRoot, kind: "dir", readOnly: true },
      ],
      kubernetesVersion: versions.kubernetes,
      runFrom,
    };
    const configFile = join(dir, "agent.json");
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const pid = startDaemon(
      process.execPath,
      [join(repoRoot, "test/testbed/local-nodes/agent-main.ts"), configFile],
      { logFile: agentLog() },
    );
    const state: ComponentState = {
      pids: [pid],
      external: false,
      env: { JUDE_LOCAL_NODES: localNodes.map((node) => node.name).join(",") },
      details: { plan },
    };
    try {
      await waitFor("local nodes Ready", () => isAlive(pid) && nodesReady(String(kube.env.KUBECONFIG)), {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
    } catch (error) {
      await this.stop(state);
      throw new TestbedStepError("start local-nodes", String(error), agentLog(), { cause: error });
    }
    return state;
  },

  async isReady(state) {
    const kubeconfig = readState().kube?.env.KUBECONFIG;
    return state.pids.every(isAlive) && kubeconfig !== undefined && nodesReady(kubeconfig);
  },

  async stop(state) {
    // The agent stops its pods (SIGKILL) and removes the nodes on SIGTERM; then nothing may be left.
    for (const pid of state.pids) await stopDaemon(pid, 60_000);
    for (const pid of leftoverPids()) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    unmountBelow(localNodesDir());
    teardownHostNetwork(state.details.plan as NetworkPlan);
  },
};

/** 127.0.0.1 ports of the running components (API server, Kafka, Redis), reachable from pods. */
function loopbackPorts(): number[] {
  const ports = new Set<number>();
  for (const component of Object.values(readState())) {
    for (const value of Object.values(component?.env ?? {})) {
      for (const match of value.matchAll(/127\.0\.0\.1:(\d+)/g)) ports.add(Number(match[1]));
    }
    const apiPort = (component?.details as { apiPort?: number } | undefined)?.apiPort;
    if (apiPort !== undefined) ports.add(apiPort);
  }
  return [...ports].sort((a, b) => a - b);
}

function leftoverPids(): number[] {
  if (!existsSync(snapshotFile())) return [];
  const snapshot = JSON.parse(readFileSync(snapshotFile(), "utf8")) as AgentSnapshot;
  return snapshot.pods.flatMap((pod) =>
    pod.containers.flatMap((container) => (container.pid === undefined ? [] : [container.pid])),
  );
}

function nodesReady(kubeconfig: string): boolean {
  try {
    const output = execFileSync(
      kubectlPath(),
      [
        "--kubeconfig",
        kubeconfig,
        "get",
        "nodes",
        ...localNodes.map((node) => node.name),
        "-o",
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    );
    const statuses = output.split("\n").filter(Boolean);
    return statuses.length === localNodes.length && statuses.every((status) => status === "True");
  } catch {
    return false;
  }
}

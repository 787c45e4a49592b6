import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensurePki, type Pki } from "../certs.ts";
import type { Component, ComponentState } from "../component.ts";
import { probe } from "../http-probe.ts";
import { buildScripts, cacheDir, stateDir, versions } from "../paths.ts";
import { freePort } from "../ports.ts";
import { isAlive, startDaemon, stopDaemon } from "../process.ts";
import type { ProvisionStep } from "../schedule.ts";
import { goBuildSteps, TestbedStepError } from "../step.ts";
import { waitFor } from "../wait.ts";
import { routedCidrs } from "../local-nodes/host-network.ts";
import { firstAddress, planNetwork, type NetworkPlan } from "../local-nodes/network-plan.ts";

const run = promisify(execFile);
const kubeBinaries = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"] as const;

/** Where the control-plane binaries come from: an override folder or the cache. */
export function kubeBinDir(): string {
  return process.env.JUDE_KUBE_BIN_DIR ?? join(cacheDir(), `kube-${versions.kubernetes}`, "bin");
}

function etcdBinary(): string {
  return process.env.JUDE_ETCD_BIN ?? join(cacheDir(), `etcd-${versions.etcd}`, "bin", "etcd");
}

/** kubectl at the server's version (the machine's own kubectl is older). */
export function kubectlPath(): string {
  return join(kubeBinDir(), "kubectl");
}

interface KubeDetails {
  etcdPort: number;
  etcdPeerPort: number;
  apiPort: number;
  controllerManagerPort: number;
  schedulerPort: number;
  kubeconfig: string;
  /** Pod and Service ranges of this checkout (the API server allocates ClusterIPs from the latter). */
  network: NetworkPlan;
}

const dir = (): string => join(stateDir(), "kube");
const logs = (name: string): string => join(stateDir(), "logs", `${name}.log`);

/**
 * etcd + kube-apiserver + kube-controller-manager + kube-scheduler of one pinned release, started the
 * way envtest starts them, plus the controller-manager and scheduler so Deployments get pods, pods get
 * nodes and Jobs complete. `JUDE_TESTBED_KUBECONFIG` points everything at an existing cluster instead.
 */
export const kube: Component = {
  name: "kube",
  requires: [],
  overrides: {
    JUDE_TESTBED_KUBECONFIG: "use an existing cluster through this kubeconfig; nothing is built or started",
    JUDE_KUBE_BIN_DIR:
      "folder with prebuilt kube-apiserver, kube-controller-manager, kube-scheduler, kubectl",
    JUDE_ETCD_BIN: "a prebuilt etcd 3.5+ binary",
  },

  provisionSteps() {
    if (process.env.JUDE_TESTBED_KUBECONFIG !== undefined) return [];
    const steps: ProvisionStep[] = [];
    // etcd first: its modules download soonest, so the first compile starts early (schedule.ts).
    if (process.env.JUDE_ETCD_BIN === undefined) {
      steps.push(
        ...goBuildSteps({
          entry: `etcd-${versions.etcd}`,
          isComplete: () => existsSync(etcdBinary()),
          script: join(buildScripts, "go-tool.sh"),
          args: [`go.etcd.io/etcd/server/v3@v${versions.etcd}`, "go.etcd.io/etcd/server/v3", etcdBinary()],
        }),
      );
    }
    if (process.env.JUDE_KUBE_BIN_DIR === undefined) {
      steps.push(
        ...goBuildSteps({
          entry: `kube-${versions.kubernetes}`,
          isComplete: () => kubeBinaries.every((binary) => existsSync(join(kubeBinDir(), binary))),
          script: join(buildScripts, "kube.sh"),
          args: [versions.kubernetes, kubeBinDir()],
        }),
      );
    } else {
      for (const binary of kubeBinaries) {
        if (!existsSync(join(kubeBinDir(), binary))) {
          throw new TestbedStepError("kube override", `JUDE_KUBE_BIN_DIR has no ${binary}`);
        }
      }
    }
    return steps;
  },

  async start(previous) {
    const external = process.env.JUDE_TESTBED_KUBECONFIG;
    if (external !== undefined) {
      return { pids: [], external: true, env: kubeEnv(external), details: { kubeconfig: external } };
    }
    const prior = previous?.details as KubeDetails | undefined;
    if (prior === undefined) rmSync(dir(), { recursive: true, force: true });
    mkdirSync(dir(), { recursive: true });
    const network = prior?.network ?? planNetwork(stateDir(), machineRoutes());
    const pki = await ensurePki(join(dir(), "pki"), logs("kube-pki"), [firstAddress(network.serviceCidr)]);
    const details: KubeDetails =
      prior !== undefined
        ? { ...prior, network }
        : {
            network,
            etcdPort: await freePort(),
            etcdPeerPort: await freePort(),
            apiPort: await freePort(),
            controllerManagerPort: await freePort(),
            schedulerPort: await freePort(),
            kubeconfig: join(dir(), "kubeconfig"),
          };
    writeKubeconfig(details, pki);
    const state: ComponentState = {
      pids: [],
      external: false,
      env: kubeEnv(details.kubeconfig),
      details: { ...details },
    };
    try {
      state.pids.push(startEtcd(details));
      await waitFor(
        "etcd health",
        async () => (await probe(`http://127.0.0.1:${details.etcdPort}/health`)).status === 200,
      );
      state.pids.push(startApiServer(details, pki));
      await waitFor(
        "kube-apiserver /readyz",
        async () =>
          (await probe(`https://127.0.0.1:${details.apiPort}/readyz`, adminTls(pki))).status === 200,
        { timeoutMs: 120_000 },
      );
      state.pids.push(startControllerManager(details, pki));
      state.pids.push(startScheduler(details));
      await waitFor(
        "kube-controller-manager and kube-scheduler /healthz",
        async () => isReadyInner(details),
        {
          timeoutMs: 120_000,
        },
      );
      // The ServiceAccount admission plugin rejects pods until the token controller made the default SA.
      await waitFor(
        "the default service account",
        async () => {
          await run(kubectlPath(), [
            "--kubeconfig",
            details.kubeconfig,
            "get",
            "serviceaccount",
            "default",
            "-n",
            "default",
          ]);
          return true;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    } catch (error) {
      for (const pid of state.pids.reverse()) await stopDaemon(pid);
      throw error instanceof TestbedStepError
        ? error
        : new TestbedStepError("start kube", String(error), logs("kube-apiserver"), { cause: error });
    }
    return state;
  },

  async isReady(state) {
    if (state.external) {
      try {
        await run(kubectlPath(), [
          "--kubeconfig",
          String(state.details.kubeconfig),
          "get",
          "--raw",
          "/readyz",
        ]);
        return true;
      } catch {
        return false;
      }
    }
    return state.pids.every(isAlive) && isReadyInner(state.details as unknown as KubeDetails);
  },

  async stop(state) {
    for (const pid of [...state.pids].reverse()) await stopDaemon(pid);
  },
};

/** Routes of this machine, so the ranges picked for this checkout collide with nothing (none off Linux). */
function machineRoutes(): string[] {
  try {
    return routedCidrs();
  } catch {
    return [];
  }
}

function kubeEnv(kubeconfig: string): Record<string, string> {
  return { KUBECONFIG: kubeconfig, JUDE_KUBECTL: kubectlPath() };
}

function adminTls(pki: Pki): { ca: string; cert: string; key: string } {
  return { ca: pki.servingCa, cert: pki.adminCert, key: pki.adminKey };
}

async function isReadyInner(details: KubeDetails): Promise<boolean> {
  const pki = join(dir(), "pki");
  const api = await probe(`https://127.0.0.1:${details.apiPort}/readyz`, {
    ca: join(pki, "serving-ca.crt"),
    cert: join(pki, "admin.crt"),
    key: join(pki, "admin.key"),
  }).catch(() => ({ status: 0 }));
  const cm = await probe(`https://127.0.0.1:${details.controllerManagerPort}/healthz`, {
    insecure: true,
  }).catch(() => ({ status: 0 }));
  const scheduler = await probe(`https://127.0.0.1:${details.schedulerPort}/healthz`, {
    insecure: true,
  }).catch(() => ({ status: 0 }));
  return api.status === 200 && cm.status === 200 && scheduler.status === 200;
}

function writeKubeconfig(details: Pick<KubeDetails, "kubeconfig" | "apiPort">, pki: Pki): void {
  writeFileSync(
    details.kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: jude-testbed",
      "  cluster:",
      `    server: https://127.0.0.1:${details.apiPort}`,
      `    certificate-authority: ${pki.servingCa}`,
      "users:",
      "- name: admin",
      "  user:",
      `    client-certificate: ${pki.adminCert}`,
      `    client-key: ${pki.adminKey}`,
      "contexts:",
      "- name: jude-testbed",
      "  context: {cluster: jude-testbed, user: admin, namespace: default}",
      "current-context: jude-testbed",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
}

/** Where a control plane keeps its data and logs: the testbed's state dir, or a test's own folder. */
interface PlaneDirs {
  data: string;
  log: (name: string) => string;
}
const testbedDirs = (): PlaneDirs => ({ data: dir(), log: logs });

function startEtcd(details: Pick<KubeDetails, "etcdPort" | "etcdPeerPort">, at = testbedDirs()): number {
  const peer = `http://127.0.0.1:${details.etcdPeerPort}`;
  const client = `http://127.0.0.1:${details.etcdPort}`;
  return startDaemon(
    etcdBinary(),
    [
      "--name=testbed",
      `--data-dir=${join(at.data, "etcd")}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=testbed=${peer}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ],
    { logFile: at.log("etcd") },
  );
}

function startApiServer(
  details: Pick<KubeDetails, "etcdPort" | "apiPort"> & { network: Pick<NetworkPlan, "serviceCidr"> },
  pki: Pki,
  at = testbedDirs(),
): number {
  return startDaemon(
    join(kubeBinDir(), "kube-apiserver"),
    [
      `--etcd-servers=http://127.0.0.1:${details.etcdPort}`,
      `--cert-dir=${pki.dir}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--secure-port=${details.apiPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--service-cluster-ip-range=${details.network.serviceCidr}`,
      "--allow-privileged=true",
      "--authorization-mode=RBAC",
      `--client-ca-file=${pki.clientCa}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--enable-priority-and-fairness=false",
      "--v=1",
    ],
    { logFile: at.log("kube-apiserver") },
  );
}

function startControllerManager(details: KubeDetails, pki: Pki): number {
  return startDaemon(
    join(kubeBinDir(), "kube-controller-manager"),
    [
      `--kubeconfig=${details.kubeconfig}`,
      `--authentication-kubeconfig=${details.kubeconfig}`,
      `--authorization-kubeconfig=${details.kubeconfig}`,
      `--root-ca-file=${pki.servingCa}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      "--use-service-account-credentials=false",
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${details.controllerManagerPort}`,
      `--cert-dir=${join(dir(), "controller-manager")}`,
      "--controllers=*",
      "--concurrent-gc-syncs=5",
      "--v=1",
    ],
    { logFile: logs("kube-controller-manager") },
  );
}

function startScheduler(details: KubeDetails): number {
  return startDaemon(
    join(kubeBinDir(), "kube-scheduler"),
    [
      `--kubeconfig=${details.kubeconfig}`,
      `--authentication-kubeconfig=${details.kubeconfig}`,
      `--authorization-kubeconfig=${details.kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${details.schedulerPort}`,
      `--cert-dir=${join(dir(), "scheduler")}`,
      "--v=1",
    ],
    { logFile: logs("kube-scheduler") },
  );
}

/** A private control plane a test started and stops: its kubeconfig, and how to stop it. */
export interface BareApiServer {
  kubeconfig: string;
  /** Stops kube-apiserver and etcd and deletes the folder. */
  stop: () => Promise<void>;
}

/**
 * etcd + kube-apiserver only (no controller-manager, scheduler or nodes), from the testbed's cached
 * binaries, on fresh ports, with data, PKI and logs under `root` (created; removed by `stop`): for tests
 * that do what must never happen to the shared testbed (delete the JUDE CRDs). Nothing runs pods: a
 * Deployment stays without any, and namespaces are never finalized away (no namespace controller).
 */
export async function startBareApiServer(root: string): Promise<BareApiServer> {
  mkdirSync(root, { recursive: true });
  const at: PlaneDirs = { data: root, log: (name) => join(root, "logs", `${name}.log`) };
  const pki = await ensurePki(join(root, "pki"), at.log("pki"));
  const details = {
    etcdPort: await freePort(),
    etcdPeerPort: await freePort(),
    apiPort: await freePort(),
    kubeconfig: join(root, "kubeconfig"),
    // Only the API server's ClusterIP allocator reads it; nothing routes it.
    network: { serviceCidr: "10.0.0.0/24" },
  };
  writeKubeconfig(details, pki);
  const pids: number[] = [];
  const stop = async (): Promise<void> => {
    for (const pid of pids.splice(0).reverse()) await stopDaemon(pid);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    pids.push(startEtcd(details, at));
    await waitFor(
      "private etcd health",
      async () => (await probe(`http://127.0.0.1:${details.etcdPort}/health`)).status === 200,
    );
    pids.push(startApiServer(details, pki, at));
    await waitFor(
      "private kube-apiserver /readyz",
      async () =>
        (
          await probe(`https://127.0.0.1:${details.apiPort}/readyz`, adminTls(pki)).catch(() => ({
            status: 0,
          }))
        ).status === 200,
      { timeoutMs: 120_000 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { kubeconfig: details.kubeconfig, stop };
}

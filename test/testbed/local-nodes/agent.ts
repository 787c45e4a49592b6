// The local node agent: registers the local nodes and acts as their kubelet, kube-proxy and cluster
// DNS. It watches pods bound to its nodes and runs each through a PodWorker.
import { replaceFile } from "../replace-file.ts";
import { join } from "node:path";
import type { Server } from "node:net";
import type {
  V1ConfigMap,
  V1EndpointSlice,
  V1Pod,
  V1PodStatus,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import type { AgentContext } from "./agent-context.ts";
import { asText, clusterVolumeSources } from "./cluster-sources.ts";
import { ApiError, KubeApi, type ApiEndpoint } from "./kube-api.ts";
import type { RunFrom } from "./image-config.ts";
import { ImageStore } from "./image-store.ts";
import { deregisterNodes, heartbeat, localNodesFor, registerNodes } from "./local-node-registry.ts";
import { nodeManifest } from "../node-manifest.ts";
import { hostTree } from "./host-tree.ts";
import type { PodMount } from "./mount-plan.ts";
import { inCidr, type NetworkPlan } from "./network-plan.ts";
import { PodWorker } from "./pod-worker.ts";
import { ResourceCache } from "./resource-cache.ts";
import { serviceEnvironment } from "./service-env.ts";
import { loopbackForwarder, ServiceProxy } from "./service-proxy.ts";
import { podsSnapshot } from "./agent-snapshot.ts";

/** What the testbed component hands the agent (written as JSON into the state dir). */
export interface AgentConfig {
  plan: NetworkPlan;
  endpoint: ApiEndpoint;
  apiPort: number;
  dir: string;
  logDir: string;
  loopbackPorts: number[];
  baseMounts: PodMount[];
  kubernetesVersion: string;
  /** Where pods run from by default (`JUDE_LOCAL_NODES_RUN_FROM`); the pod annotation overrides it. */
  runFrom?: RunFrom;
  /** Node name prefix of a second agent on the same cluster (see `localNodesFor`); none by default. */
  nodePrefix?: string;
}

const tickMs = 250;
const heartbeatMs = 10_000;

/** Runs the agent until `signal` aborts, then stops every pod and removes the nodes. */
export async function runAgent(
  config: AgentConfig,
  signal: AbortSignal,
  log: (message: string) => void,
): Promise<void> {
  const api = new KubeApi(config.endpoint);
  const workers = new Map<string, PodWorker>();
  const slots = new Map<number, string>();
  const nodes = localNodesFor(config.nodePrefix ?? "");
  const nodeNames = new Set(nodes.map((node) => node.name));
  const nodeAllocatable = new Map(nodes.map((node) => [node.name, nodeManifest(node).status.allocatable]));
  const images = new ImageStore(config.plan.tag, log);
  const pods = new ResourceCache<V1Pod>(api, "/api/v1/pods", (key, pod) => onPod(key, pod), log);
  const services = new ResourceCache<V1Service>(api, "/api/v1/services", () => undefined, log);
  const slices = new ResourceCache<V1EndpointSlice>(
    api,
    "/apis/discovery.k8s.io/v1/endpointslices",
    () => undefined,
    log,
  );
  const configMaps = new ResourceCache<V1ConfigMap>(api, "/api/v1/configmaps", () => undefined, log);
  const secrets = new ResourceCache<V1Secret>(api, "/api/v1/secrets", () => undefined, log);
  const volumeSources = clusterVolumeSources(api, configMaps, secrets);

  const servable = (ip: string): boolean =>
    [...workers.values()].some(
      (worker) =>
        worker.sandbox?.podIP === ip &&
        worker.pod.metadata?.deletionTimestamp === undefined &&
        worker.containers.every((run) => run.ready),
    );
  const proxy = new ServiceProxy(
    (ip) => inCidr(ip, config.plan.serviceCidr),
    () => slices.list(),
    { servable, apiServer: { host: "127.0.0.1", port: config.apiPort } },
    log,
  );
  const context: AgentContext = {
    plan: config.plan,
    dir: config.dir,
    logDir: config.logDir,
    loopbackPorts: config.loopbackPorts,
    host: hostTree,
    baseMounts: config.baseMounts,
    runFrom: config.runFrom ?? "checkout",
    images,
    volumeSources,
    envSources: (pod) => ({
      configMap: (namespace, name) => asText(volumeSources.configMap(namespace, name)),
      secret: (namespace, name) => asText(volumeSources.secret(namespace, name)),
      serviceEnv: serviceEnvironment(
        services.list(),
        pod.metadata?.namespace ?? "default",
        pod.spec?.enableServiceLinks ?? true,
      ),
      nodeAllocatable: nodeAllocatable.get(pod.spec?.nodeName ?? ""),
    }),
    services: () => services.list(),
    headlessAddresses: (service) =>
      slices
        .list()
        .filter(
          (slice) =>
            slice.metadata?.namespace === service.metadata?.namespace &&
            slice.metadata?.labels?.["kubernetes.io/service-name"] === service.metadata?.name,
        )
        .flatMap((slice) =>
          (slice.endpoints ?? [])
            .filter((endpoint) => endpoint.conditions?.ready !== false)
            .flatMap((endpoint) => endpoint.addresses),
        )
        .filter((ip) => servable(ip)),
    writeStatus: (pod, status) => writePodStatus(api, pod, status),
    async finalizeDeletion(pod) {
      await api
        .send("DELETE", `/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}`, {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata?.uid },
        })
        .catch((error: unknown) => {
          if (!(error instanceof ApiError && (error.status === 404 || error.status === 409))) throw error;
        });
    },
    log,
  };

  function onPod(key: string, pod: V1Pod | undefined): void {
    const worker = workers.get(key);
    if (pod !== undefined && worker !== undefined && worker.pod.metadata?.uid === pod.metadata?.uid) {
      worker.pod = pod;
      return;
    }
    if (worker !== undefined) {
      // Gone from the API (or replaced by a new pod of the same name): stop at once.
      workers.delete(key);
      void worker.kill().finally(() => releaseSlot(worker));
    }
    if (pod === undefined || !nodeNames.has(pod.spec?.nodeName ?? "")) return;
    if (pod.metadata?.deletionTimestamp !== undefined) {
      // Nothing of it runs here (a finished pod, or one from before the agent started): finish the delete.
      void context
        .finalizeDeletion(pod)
        .catch((error: unknown) => log(`delete ${key}: ${(error as Error).message}`));
      return;
    }
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return;
    const slot = [...Array(253).keys()].map((index) => index + 2).find((candidate) => !slots.has(candidate));
    if (slot === undefined) {
      log(`no free pod address for ${key}`);
      return;
    }
    slots.set(slot, pod.metadata?.uid ?? "");
    workers.set(key, new PodWorker(context, pod, slot));
  }

  function releaseSlot(worker: PodWorker): void {
    for (const [slot, uid] of slots) if (uid === worker.pod.metadata?.uid) slots.delete(slot);
  }

  await registerNodes(api, config.kubernetesVersion, nodes);
  await heartbeat(api, config.plan.gateway, nodes);
  const forwarders: Server[] = config.loopbackPorts.map((port) =>
    loopbackForwarder(config.plan.gateway, port, log),
  );
  const caches = [services, slices, configMaps, secrets, pods];
  const watching = Promise.all(caches.map((cache) => cache.run(signal)));
  let lastHeartbeat = Date.now();
  let lastSnapshot = "";
  while (!signal.aborted) {
    await new Promise((done) => setTimeout(done, tickMs));
    if (!caches.every((cache) => cache.synced)) continue;
    proxy.sync(services.list());
    const now = Date.now();
    await Promise.all([...workers.values()].map((worker) => worker.tick(now)));
    for (const [key, worker] of workers) {
      if (worker.done) {
        workers.delete(key);
        releaseSlot(worker);
      }
    }
    if (now - lastHeartbeat >= heartbeatMs) {
      lastHeartbeat = now;
      await heartbeat(api, config.plan.gateway, nodes).catch((error: unknown) =>
        log(`heartbeat: ${(error as Error).message}`),
      );
    }
    const snapshot = JSON.stringify(podsSnapshot([...workers.values()], proxy.addresses()), null, 2);
    if (snapshot !== lastSnapshot) {
      // Tests and `testbed status` read it while the agent runs: never half a file.
      replaceFile(join(config.dir, "pods.json"), snapshot);
      lastSnapshot = snapshot;
    }
  }
  await Promise.all([...workers.values()].map((worker) => worker.kill()));
  proxy.close();
  for (const server of forwarders) server.close();
  await images.close();
  await deregisterNodes(api, nodes);
  await watching;
}

/**
 * Writes the status the agent built from its view of `pod`, on condition that the pod is still as
 * viewed (its resourceVersion). A merge patch replaces the conditions list whole: a status built just
 * before the Eviction API added DisruptionTarget would remove it, and the Job controller would count
 * the evicted shard as a failure. A stale view gets 409 (ApiError), and the next tick writes again from
 * the newer pod the watch brings.
 */
export async function writePodStatus(api: KubeApi, pod: V1Pod, status: V1PodStatus): Promise<void> {
  await api.mergePatch(`/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}/status`, {
    metadata: { uid: pod.metadata?.uid, resourceVersion: pod.metadata?.resourceVersion },
    status,
  });
}

// What every pod worker shares with the agent: the network plan, folders, cluster lookups and the
// calls that write back to the API server.
import type { V1Pod, V1PodStatus, V1Service } from "@kubernetes/client-node";
import type { EnvSources } from "./container-process.ts";
import type { RunFrom } from "./image-config.ts";
import type { ImageStore } from "./image-store.ts";
import type { HostTree, PodMount } from "./mount-plan.ts";
import type { NetworkPlan } from "./network-plan.ts";
import type { VolumeSources } from "./volumes.ts";

/** Shared services of the agent, handed to each pod worker. */
export interface AgentContext {
  plan: NetworkPlan;
  /** The agent's folder in the state dir (pods, volumes, roots). */
  dir: string;
  /** Container logs: <logDir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log, as a kubelet lays them out. */
  logDir: string;
  /** Testbed loopback ports reachable as 127.0.0.1:<port> inside pods. */
  loopbackPorts: number[];
  /** Read access to the host filesystem for mount plans. */
  host: HostTree;
  /** Mounts every container run from the checkout gets: the `jude` launcher, Node and the checkout. */
  baseMounts: PodMount[];
  /** Where pods run from unless their `testbed.jude.dev/run-from` annotation says otherwise. */
  runFrom: RunFrom;
  /** Built images pods run from (`run-from: image`). */
  images: ImageStore;
  volumeSources: VolumeSources;
  envSources(pod: V1Pod): EnvSources;
  services(): V1Service[];
  headlessAddresses(service: V1Service): string[];
  /** Writes the pod's status if the pod is still as `pod` shows it; ApiError 409 when it changed since. */
  writeStatus(pod: V1Pod, status: V1PodStatus): Promise<void>;
  /** Removes the Pod object once its containers are gone (the kubelet's final delete). */
  finalizeDeletion(pod: V1Pod): Promise<void>;
  log(message: string): void;
}

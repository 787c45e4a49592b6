// The informers' namespace/label index against the real API server: per-namespace informers and a
// cluster-wide one filtered by a label selector (as the operator's managed-only informers are) follow
// label changes, deletions, a delete and recreate under the same name, an object leaving the
// selector, and changes made while the watch was cut off followed by 410 Gone and a relist; after
// each, every namespaced and labelled list equals what the API server lists for the same selector.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError } from "../../../operator/runtime/api-error.ts";
import { cacheTransforms } from "../../../operator/runtime/cache-transforms.ts";
import { Informer } from "../../../operator/runtime/informer.ts";
import { KubeClient } from "../../../operator/runtime/kube-client.ts";
import { apiListWatcher, type ListWatcher } from "../../../operator/runtime/list-watcher.ts";
import { resourceName, resourceTypes } from "../../../operator/runtime/resource-types.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { waitFor } from "../../testbed/wait.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { createRestrictedNamespace, deleteNamespace } from "./operator-harness.ts";

const group = `reviewcache-${process.pid}`;
const namespaces = [`reviewcache-a-${process.pid}`, `reviewcache-b-${process.pid}`];
const [first, second] = namespaces as [string, string];
const type = resourceTypes.configMap;

/** A ListWatcher whose watch can be cut off (it then waits, and answers 410 Gone once let through). */
function cuttable(inner: ListWatcher) {
  let cut = new AbortController();
  let resume: (() => void) | undefined;
  let resumed = Promise.resolve();
  let lists = 0;
  const listWatcher: ListWatcher = {
    list: (signal) => ((lists += 1), inner.list(signal)),
    watch: async (resourceVersion, handlers, signal, timeoutSeconds) => {
      await resumed;
      const mine = cut;
      try {
        await inner.watch(resourceVersion, handlers, AbortSignal.any([signal, mine.signal]), timeoutSeconds);
      } catch (error) {
        if (!mine.signal.aborted || signal.aborted) throw error;
      }
      if (!mine.signal.aborted || signal.aborted) return;
      await resumed;
      cut = new AbortController();
      throw new KubeApiError(410, "too old resource version", "Expired");
    },
  };
  return {
    listWatcher,
    lists: () => lists,
    cutOff: () => {
      resumed = new Promise((resolve) => (resume = resolve));
      cut.abort(new Error("cut off by the test"));
    },
    reconnect: () => resume?.(),
  };
}

async function configMap(namespace: string, name: string, labels: Record<string, string>): Promise<void> {
  await kubectl(["create", "configmap", name, "-n", namespace, "--from-literal=k=v"]);
  await label(namespace, name, labels);
}

async function label(namespace: string, name: string, labels: Record<string, string>): Promise<void> {
  const pairs = Object.entries(labels).map(([key, value]) => (value === "-" ? `${key}-` : `${key}=${value}`));
  if (pairs.length > 0) await kubectl(["label", "configmap", name, "-n", namespace, "--overwrite", ...pairs]);
}

async function remove(namespace: string, name: string): Promise<void> {
  await kubectl(["delete", "configmap", name, "-n", namespace, "--wait=true"]);
}

/** What the API server lists in `namespace` with this selector: names, sorted. */
async function truth(namespace: string, labels: Record<string, string>): Promise<string[]> {
  const selector = Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
  const list = await kubectlJson<{ items: { metadata: { name: string } }[] }>([
    "get",
    "configmaps",
    "-n",
    namespace,
    ...(selector === "" ? [] : ["-l", selector]),
    "-o",
    "json",
  ]);
  return list.items.map((item) => item.metadata.name).sort();
}

/** What the informers' index answers, filtered as InformerCache.list filters it. */
function cached(informers: Informer[], namespace: string, labels: Record<string, string>): string[] {
  return informers
    .flatMap((informer) => informer.list(namespace, labels))
    .filter(
      (object) =>
        object.metadata?.namespace === namespace &&
        Object.entries(labels).every(([key, value]) => object.metadata?.labels?.[key] === value),
    )
    .map((object) => object.metadata?.name ?? "")
    .sort();
}

const queries: Record<string, string>[] = [
  {},
  { app: "x" },
  { app: "y" },
  { app: "z" },
  { app: "x", tier: "1" },
  { group },
];

describe("informer index against the API server", () => {
  beforeAll(async () => {
    for (const namespace of namespaces) await createRestrictedNamespace(namespace);
  });
  afterAll(async () => {
    for (const namespace of namespaces) await deleteNamespace(namespace);
  });

  it("namespaced and labelled lists equal the API server's after changes, a cut-off and a relist", async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
    const client = new KubeClient(kubeConfig);
    const transform = cacheTransforms[resourceName(type)];
    const make = (name: string, namespace: string | undefined, labelSelector?: string) => {
      const link = cuttable(apiListWatcher(client, type, { namespace, labelSelector }));
      const informer = new Informer({
        name,
        listWatcher: link.listWatcher,
        log: silentLogger(),
        backoff: { baseMs: 10, maxMs: 100 },
        ...(transform !== undefined ? { transform } : {}),
      });
      return { informer, link };
    };
    // The operator's two shapes: one informer per watched namespace, or one for the whole cluster
    // narrowed by a label selector (managed-only).
    const perNamespace = namespaces.map((namespace) => make(`configmaps/${namespace}`, namespace));
    const clusterWide = make("configmaps", undefined, `group=${group}`);
    const all = [...perNamespace, clusterWide];

    await configMap(first, "c1", { group, app: "x", tier: "1" });
    await configMap(first, "c2", { group, app: "y" });
    await configMap(first, "c3", { group, app: "x" });
    await configMap(second, "c1", { group, app: "x" });
    for (const { informer } of all) informer.start();
    try {
      await Promise.all(all.map(({ informer }) => informer.waitForSync()));
      const agree = async (phase: string) => {
        for (const namespace of namespaces)
          for (const labels of queries) {
            const where = `${phase}: ${namespace} ${JSON.stringify(labels)}`;
            const want = await truth(namespace, labels);
            const wantSelected = await truth(namespace, { ...labels, group });
            await waitFor(where, () => {
              const perNamespaceAnswer = cached(
                perNamespace.map((each) => each.informer),
                namespace,
                labels,
              );
              const clusterAnswer = cached([clusterWide.informer], namespace, labels);
              return (
                JSON.stringify(perNamespaceAnswer) === JSON.stringify(want) &&
                JSON.stringify(clusterAnswer) === JSON.stringify(wantSelected)
              );
            });
          }
      };
      await agree("initial list");

      // Watch events: a label changed, a deletion, a delete and recreate with other labels, an object
      // leaving the cluster-wide informer's selector, a new object.
      await label(first, "c1", { app: "y" });
      await remove(first, "c2");
      await remove(first, "c3");
      await configMap(first, "c3", { group, app: "z" });
      await label(second, "c1", { group: "-" });
      await configMap(second, "c4", { group, app: "x", tier: "1" });
      await agree("after watch events");

      // Cut off: what changes meanwhile reaches the informers only through the relist after 410 Gone.
      const listsBefore = all.map(({ link }) => link.lists());
      for (const { link } of all) link.cutOff();
      await remove(second, "c4");
      await remove(first, "c3");
      await configMap(first, "c3", { group, app: "x", tier: "1" });
      await label(first, "c1", { app: "x", tier: "1" });
      await label(second, "c1", { group, app: "z" });
      await configMap(second, "c5", { group, app: "y" });
      for (const { link } of all) link.reconnect();
      await waitFor("every informer to relist", () =>
        all.every(({ link }, index) => link.lists() > listsBefore[index]!),
      );
      await agree("after a relist");
      expect(cached([clusterWide.informer], second, { app: "x", tier: "1" })).toEqual([]);
    } finally {
      for (const { link } of all) link.reconnect();
      await Promise.all(all.map(({ informer }) => informer.stop()));
    }
  });
});

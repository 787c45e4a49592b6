// A worker config change on the testbed's API server (pods only pretend to run on kwok nodes): the new
// config is a new ConfigMap, named by its content, and the one the old pods mount is never rewritten
// (a restarted old worker reads again the config its template was made for), kept while its pods
// exist, and deleted once they are gone. The new workers are held unschedulable first, so the old
// pods are still there when the new ConfigMap appears; a ConfigMap an older release named after the
// Deployment, mounted by nothing, is deleted as well.
import type { V1ConfigMap, V1Deployment, V1Pod } from "@kubernetes/client-node";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NearlinePipelineInput } from "../../../crds/index.ts";
import { nearlineConfigSchema } from "../../../pipelines/nearline/config.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

type Status = {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
};

const deploymentName = "rollout-minilm-v1-nearline";

/** The name of the ConfigMap a Deployment's pod template mounts as its config. */
const mountedConfig = (deployment: V1Deployment) =>
  deployment.spec!.template.spec!.volumes!.find((volume) => volume.name === "config")!.configMap!.name!;

/** Whether ConfigMap `name` exists. */
async function configMapExists(namespace: string, name: string): Promise<boolean> {
  const found = await kubectl([
    "get",
    "-n",
    namespace,
    "configmap",
    name,
    "--ignore-not-found",
    "-o",
    "name",
  ]);
  return found.trim() !== "";
}

/** The names of the ConfigMaps the pipeline's worker pods mount (terminating pods included). */
async function podsMounting(namespace: string): Promise<Map<string, string>> {
  const pods = await kubectlJson<{ items: V1Pod[] }>([
    "get",
    "pods",
    "-n",
    namespace,
    "-l",
    "jude.dev/pipeline=rollout",
  ]);
  return new Map(
    pods.items.map((pod) => [
      pod.metadata!.name!,
      pod.spec!.volumes!.find((volume) => volume.name === "config")!.configMap!.name!,
    ]),
  );
}

describe("worker config ConfigMaps across a config change", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    harness = await startControllers("config-rollout", { settings: { pipelinePollMs: 5_000 } });
    topic = uniqueTopic("config-rollout-changelog");
    await createTopics([topic], 2);
    await applyObjects(harness.namespace, [storeSecret(), model()]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("makes a new ConfigMap, keeps the old one unchanged while old pods mount it, and deletes it once they are gone", async () => {
    const ns = harness.namespace;
    const workers = (edit: (spec: NearlinePipelineInput["spec"]) => void) =>
      pipeline("rollout", topic, (spec) => {
        spec.workers = { replicas: 1, maxBatchSize: 64 };
        edit(spec);
      });
    await applyObjects(ns, [workers(() => undefined)]);
    await waitForObject<Status>(
      ns,
      "nearlinepipeline/rollout",
      "pipeline Ready",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
    const first = await kubectlJson<V1Deployment>(["get", "-n", ns, `deployment/${deploymentName}`]);
    const oldName = mountedConfig(first);
    expect(oldName).toMatch(new RegExp(`^${deploymentName}-[0-9a-f]{10}$`));
    const old = await kubectlJson<V1ConfigMap>(["get", "-n", ns, `configmap/${oldName}`]);
    expect(old.metadata!.labels!["jude.dev/config-of"]).toBe(deploymentName);
    const oldPods = await podsMounting(ns);
    expect([...oldPods.values()]).toEqual([oldName]);

    // A ConfigMap named after the Deployment, as releases before content addressing made it (same
    // labels and owner), that no pod mounts any more: deleted too.
    const legacy = {
      ...old,
      metadata: { ...old.metadata, name: deploymentName, labels: { ...old.metadata!.labels } },
    };
    delete legacy.metadata.labels["jude.dev/config-of"];
    for (const field of ["uid", "resourceVersion", "creationTimestamp", "managedFields"] as const)
      delete legacy.metadata[field];
    await kubectl(["apply", "-n", ns, "-f", "-"], JSON.stringify(legacy));

    // A new config whose workers cannot be scheduled: the old worker stays, and mounts its own config.
    await applyObjects(ns, [
      workers((spec) => {
        spec.workers!.maxBatchSize = 16;
        spec.workers!.resources = { requests: { cpu: "100000" } };
      }),
    ]);
    const rolling = await waitForObject<V1Deployment>(
      ns,
      `deployment/${deploymentName}`,
      "a new config in the template",
      (d) => mountedConfig(d) !== oldName,
    );
    const newName = mountedConfig(rolling);
    expect(newName).toMatch(new RegExp(`^${deploymentName}-[0-9a-f]{10}$`));
    const fresh = await kubectlJson<V1ConfigMap>(["get", "-n", ns, `configmap/${newName}`]);
    expect(nearlineConfigSchema.parse(parse(fresh.data!["config.yaml"]!)).embedding.maxBatchSize).toBe(16);
    // Reconciled since the new worker exists (its status names it), and the old one is still there.
    await waitForObject<Status>(ns, "nearlinepipeline/rollout", "the new worker unschedulable", (object) =>
      /cannot be scheduled/.test(conditionOf(object, "Ready")?.message ?? ""),
    );
    const during = await podsMounting(ns);
    for (const [pod, mounted] of oldPods) expect(during.get(pod)).toBe(mounted);
    const kept = await kubectlJson<V1ConfigMap>(["get", "-n", ns, `configmap/${oldName}`]);
    expect(kept.data).toEqual(old.data);
    expect(kept.metadata!.resourceVersion).toBe(old.metadata!.resourceVersion);

    // The same config, schedulable: the rollout ends, the old pod goes, and so does its config.
    await applyObjects(ns, [workers((spec) => void (spec.workers!.maxBatchSize = 16))]);
    await waitFor(
      "the old ConfigMap and the legacy one deleted once no pod mounts them",
      async () => !(await configMapExists(ns, oldName)) && !(await configMapExists(ns, deploymentName)),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect([...(await podsMounting(ns)).values()].every((mounted) => mounted === newName)).toBe(true);
    expect(
      mountedConfig(await kubectlJson<V1Deployment>(["get", "-n", ns, `deployment/${deploymentName}`])),
    ).toBe(newName);
    const current = await kubectlJson<V1ConfigMap>(["get", "-n", ns, `configmap/${newName}`]);
    expect(current.data).toEqual(fresh.data);
  });
});

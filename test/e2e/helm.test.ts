/**
 * The chart as a platform team uses it, against the testbed cluster: `helm install` of
 * charts/jude-operator whose operator really runs on a local node (the image's `jude operator` as a
 * local process, authenticating in-cluster with its ServiceAccount token through the `kubernetes`
 * Service) and reconciles an EmbeddingModel to Ready; `helm upgrade` with a changed value replaces
 * the operator pod, and a new image tag rolls the model's Deployment exactly once; `helm uninstall`
 * (after scaling the operator to zero, as the chart's README says) removes the operator and leaves the
 * model serving; a reinstall adopts it without rewriting it. The chart's workloads.imagePullSecrets
 * reach the pods the operator renders. Both namespaces enforce the restricted profile.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  listObjects,
  type Json,
} from "../integration/operator/operator-harness.ts";
import { helm } from "../support/helm.ts";
import { kubectl } from "../support/kubectl.ts";
import { localNodes, localNodeTaint } from "../testbed/local-nodes/local-node-registry.ts";
import { repoRoot } from "../testbed/paths.ts";
import { waitFor } from "../testbed/wait.ts";

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const release = "jude";
const system = `e2e-helm-system-${suffix}`;
const watched = `e2e-helm-models-${suffix}`;
const chart = join(repoRoot, "charts/jude-operator");

/** Values that put one operator on the local nodes, confined to `namespace`. */
const operatorOnLocalNodes = (namespace: string) => [
  "crds.install=false",
  "replicaCount=1",
  `watchNamespaces={${namespace}}`,
  "nodeSelector.testbed\\.jude\\.dev/node=local",
  `tolerations[0].key=${localNodeTaint.key}`,
  "tolerations[0].operator=Exists",
  "tolerations[0].effect=NoSchedule",
];

/** The release's values: the workloads pull with a registry Secret, as on a private registry. */
const values = [...operatorOnLocalNodes(watched), "workloads.imagePullSecrets[0].name=jude-registry"];

interface PodView {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string };
  status: { conditions?: { type: string; status: string }[]; containerStatuses?: { containerID?: string }[] };
}

const operatorPods = async () =>
  (await listObjects("pods", system, "app.kubernetes.io/name=jude-operator")) as unknown as PodView[];
const isReady = (pod: PodView): boolean =>
  pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

const eventually = (description: string, check: () => Promise<boolean>) =>
  waitFor(description, check, { timeoutMs: 240_000, intervalMs: 1_000 });

async function helmRelease(command: "install" | "upgrade", set: string[]): Promise<void> {
  await helm([command, release, chart, "--namespace", system, ...set.flatMap((value) => ["--set", value])]);
}

beforeAll(async () => {
  // CRDs are cluster-wide and shared by every suite: installed once, not owned by this release.
  await installCrds();
  await createRestrictedNamespace(system);
  await createRestrictedNamespace(watched);
});

afterAll(async () => {
  await helm(["uninstall", release, "--namespace", system]).catch(() => undefined);
  await deleteNamespace(watched);
  await deleteNamespace(system);
});

describe("the jude-operator chart on the testbed", () => {
  let firstPod: PodView;

  it("installs an operator that runs on a local node and reconciles an EmbeddingModel to Ready", async () => {
    await helmRelease("install", values);
    await eventually("the operator pod Ready", async () => (await operatorPods()).some(isReady));
    firstPod = (await operatorPods())[0]!;
    expect(localNodes.map((node) => node.name)).toContain(firstPod!.spec.nodeName);
    expect(firstPod!.status.containerStatuses?.[0]?.containerID).toMatch(/^local:\/\/\d+$/);

    // Pods of this model land on kwok nodes (no placement given): the operator under test is the
    // process on the local node, and its work is judged by the model's status.
    await kubectl(
      ["apply", "--server-side", "--field-manager=jude-e2e", "-f", "-"],
      JSON.stringify(
        cpuModel(watched, "minilm", {
          replicas: 1,
          tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }],
        }),
      ),
    );
    let model: Json | undefined;
    await eventually("EmbeddingModel minilm Ready", async () => {
      model = await getObject("embeddingmodel/minilm", watched);
      return condition(model, "Ready")?.status === "True";
    });
    expect((model!.status as Json).observedGeneration).toBe(1);
    const deployments = await listObjects(
      "deployments",
      watched,
      "app.kubernetes.io/managed-by=jude-operator",
    );
    expect(deployments).toHaveLength(1);
    expect(((deployments[0]!.spec as Json).template as { spec: Json }).spec.imagePullSecrets).toEqual([
      { name: "jude-registry" },
    ]);
  });

  it("rolls the operator when helm upgrade changes a value", async () => {
    await helmRelease("upgrade", [...values, "logLevel=debug"]);
    await eventually("a new operator pod Ready and the old one gone", async () => {
      const pods = await operatorPods();
      return pods.length === 1 && pods[0]!.metadata.uid !== firstPod.metadata.uid && isReady(pods[0]!);
    });
    const [pod] = await operatorPods();
    expect(localNodes.map((node) => node.name)).toContain(pod!.spec.nodeName);
    const args = ((await getObject(`pod/${pod!.metadata.name}`, system))!.spec as Json).containers as Json[];
    expect(args[0]!.args).toContain("--log-level=debug");
    // The new operator keeps the model Ready (it converges from what the old one left).
    expect(condition(await getObject("embeddingmodel/minilm", watched), "Ready")?.status).toBe("True");
  });

  it("rolls each workload once to a new image tag, the Lease handed over once", async () => {
    const servingBefore = (await getObject("deployment/minilm-v1", watched))!;
    const lease = async () => (await getObject("lease/jude-jude-operator", system))!.spec as Json;
    const transitions = async () => (await lease()).leaseTransitions as number;
    // A standby is Ready before it leads: the pod of the previous rollout may still be about to take
    // the Lease its predecessor released. Count from when it holds it.
    await eventually("the running operator pod holds the Lease", async () => {
      const pods = await operatorPods();
      return pods.length === 1 && (await lease()).holderIdentity === pods[0]!.metadata.name;
    });
    const transitionsBefore = await transitions();
    await helmRelease("upgrade", [...values, "logLevel=debug", "image.tag=0.1.1"]);
    const image = (object: Json | undefined) =>
      (((object?.spec as Json | undefined)?.template as Json | undefined)?.spec as { containers: Json[] })
        ?.containers[0]?.image;
    await eventually("the operator and the serving Deployment on the new tag, the model Ready", async () => {
      const pods = await operatorPods();
      return (
        pods.length === 1 &&
        isReady(pods[0]!) &&
        image(await getObject("deployment/jude-jude-operator", system)) === "ghcr.io/jude-dev/jude:0.1.1" &&
        image(await getObject("deployment/minilm-v1", watched)) === "ghcr.io/jude-dev/jude:0.1.1" &&
        condition(await getObject("embeddingmodel/minilm", watched), "Ready")?.status === "True"
      );
    });
    // One template change (no flip back by an operator of the old release), one handover.
    expect((await getObject("deployment/minilm-v1", watched))!.metadata).toMatchObject({
      generation: ((servingBefore.metadata as Json).generation as number) + 1,
    });
    expect(await transitions()).toBe(transitionsBefore + 1);
  });

  it("uninstalls cleanly in the chart README's order, leaving the models serving", async () => {
    // Helm deletes the RBAC while the pods still drain: scaled to zero first, they drain with it in place.
    await kubectl(["scale", "deployment/jude-jude-operator", "-n", system, "--replicas=0"]);
    await eventually("the operator's pods gone", async () => (await operatorPods()).length === 0);
    await helm(["uninstall", release, "--namespace", system, "--wait"]);
    // The leader released the Lease (a 403 would leave it held until it expires).
    expect(
      ((await getObject("lease/jude-jude-operator", system))!.spec as Json).holderIdentity,
    ).toBeUndefined();
    expect(await getObject("deployment/jude-jude-operator", system)).toBeUndefined();
    expect(await helm(["list", "--namespace", system, "-q"])).toBe("");
    expect(await getObject("embeddingmodel/minilm", watched)).toBeDefined();
    expect(await getObject("deployment/minilm-v1", watched)).toBeDefined();
  });

  it("adopts the running model on reinstall without rewriting its Deployment", async () => {
    const servingBefore = (await getObject("deployment/minilm-v1", watched))!.metadata as Json;
    // The PDB is applied after the Deployment: once it is back, the new operator has reconciled.
    await kubectl(["delete", "pdb", "minilm-v1", "-n", watched]);
    await helmRelease("install", [...values, "logLevel=debug", "image.tag=0.1.1"]);
    await eventually(
      "the new operator put the PDB back",
      async () => (await getObject("pdb/minilm-v1", watched)) !== undefined,
    );
    expect((await getObject("deployment/minilm-v1", watched))!.metadata).toMatchObject({
      generation: servingBefore.generation,
      resourceVersion: servingBefore.resourceVersion,
    });
  });
});

describe("the jude-operator chart with the platform team's own ServiceAccount", () => {
  const hardened = {
    release: "jude-own-sa",
    system: `e2e-helm-sa-${suffix}`,
    watched: `e2e-helm-sa-w-${suffix}`,
  };

  beforeAll(async () => {
    await createRestrictedNamespace(hardened.system);
    await createRestrictedNamespace(hardened.watched);
  });

  afterAll(async () => {
    await helm(["uninstall", hardened.release, "--namespace", hardened.system]).catch(() => undefined);
    await deleteNamespace(hardened.watched);
    await deleteNamespace(hardened.system);
  });

  it("runs the operator with serviceAccount.create=false and an account that does not automount its token", async () => {
    // Hardened clusters (CIS 5.1.5/5.1.6) turn automounting off on every ServiceAccount; the operator
    // needs its token all the same, so its pod asks for it itself.
    await kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "platform-jude", namespace: hardened.system },
        automountServiceAccountToken: false,
      }),
    );
    const set = [
      ...operatorOnLocalNodes(hardened.watched),
      "serviceAccount.create=false",
      "serviceAccount.name=platform-jude",
    ];
    await helm([
      "install",
      hardened.release,
      chart,
      "--namespace",
      hardened.system,
      ...set.flatMap((value) => ["--set", value]),
    ]);
    await eventually("the operator pod Ready", async () =>
      (
        (await listObjects(
          "pods",
          hardened.system,
          "app.kubernetes.io/name=jude-operator",
        )) as unknown as PodView[]
      ).some(isReady),
    );
  });
});

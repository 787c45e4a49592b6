// The platform the story runs on: the testbed's real components (provisioned and cached by the testbed,
// reused when already up) and the operator installed with its Helm chart, placed — with every pod it
// creates — on the testbed's local nodes, where pods run as real processes.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../operator/runtime/kube-client.ts";
import { down, environment, up, type ComponentName } from "../../test/testbed/index.ts";
import { localNodePlacement } from "../../test/testbed/local-nodes/local-node-registry.ts";
import { repoRoot } from "../../test/testbed/paths.ts";
import { deleteKafkaLeftovers, deleteStoreKeys } from "./leftovers.ts";
import type { Narrator } from "./narrator.ts";
import {
  discardSummary,
  readQuickstartState,
  recordInState,
  writeRemaining,
  type QuickstartState,
} from "./state.ts";

const run = promisify(execFile);

/** The testbed components the quickstart needs (kwok's pretend nodes are not among them). */
export const quickstartComponents: ComponentName[] = [
  "kube",
  "helm",
  "kafka",
  "redis",
  "model",
  "local-nodes",
];

export const operatorRelease = { name: "jude-operator", namespace: "jude-system" };

/** What the later steps need from the platform. */
export interface Platform {
  env: Record<string, string>;
  kubeConfig: KubeConfig;
  client: KubeClient;
  kubectl(args: string[], input?: string): Promise<string>;
}

function platformFrom(env: Record<string, string>): Platform {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env.KUBECONFIG!);
  return {
    env,
    kubeConfig,
    client: new KubeClient(kubeConfig),
    kubectl: async (args, input) => {
      const child = run(env.JUDE_KUBECTL!, ["--kubeconfig", env.KUBECONFIG!, ...args], {
        maxBuffer: 64 * 1024 * 1024,
      });
      if (input !== undefined) child.child.stdin?.end(input);
      return (await child).stdout;
    },
  };
}

/** Provisions (cached) and starts what is not yet up; remembers what it started. */
export async function bringUpPlatform(narrator: Narrator, namespace: string): Promise<Platform> {
  const { started, env } = await up(quickstartComponents);
  recordInState({ started, namespaces: [namespace] });
  narrator.done(
    started.length === 0 ? "testbed already up: reusing it" : `testbed: started ${started.join(", ")}`,
  );
  return platformFrom(env);
}

/** Deletes a namespace (waiting until it is gone) and the model volume the quickstart made for it. */
export async function deleteNamespace(platform: Platform, namespace: string): Promise<void> {
  await platform.kubectl([
    "delete",
    "namespace",
    namespace,
    "--ignore-not-found",
    "--wait=true",
    "--timeout=180s",
  ]);
  await platform.kubectl(["delete", "persistentvolume", `${namespace}-model`, "--ignore-not-found"]);
}

/**
 * Removes a previous run's story from the namespace (its JUDE objects, whose children are
 * garbage-collected with them, and the model volume: a released volume does not rebind), keeping the
 * namespace and the operator's Role in it.
 */
export async function resetStory(platform: Platform, namespace: string): Promise<void> {
  await platform.kubectl([
    "delete",
    "embeddingmodels.jude.dev,nearlinepipelines.jude.dev,bootstrapruns.jude.dev,persistentvolumeclaims",
    "--all",
    "-n",
    namespace,
    "--wait=true",
    "--timeout=180s",
  ]);
  await platform.kubectl([
    "delete",
    "persistentvolume",
    `${namespace}-model`,
    "--ignore-not-found",
    "--wait=true",
  ]);
}

/** Helm's --set-json arguments that put the operator and its workloads on the local nodes. */
export function placementValues(): string[] {
  const json = JSON.stringify;
  return [
    `nodeSelector=${json(localNodePlacement.nodeSelector)}`,
    `tolerations=${json(localNodePlacement.tolerations)}`,
    `workloads.nodeSelector=${json(localNodePlacement.nodeSelector)}`,
    `workloads.tolerations=${json(localNodePlacement.tolerations)}`,
  ].flatMap((value) => ["--set-json", value]);
}

/**
 * `helm upgrade --install` of charts/jude-operator (idempotent: a second run reuses the release).
 * When the CRDs already exist without Helm's ownership (installed by tests on a shared testbed),
 * they are applied server-side instead of through the release, which could not adopt them.
 */
export async function installOperator(
  platform: Platform,
  narrator: Narrator,
  namespace: string,
): Promise<void> {
  // The watched namespace first: the chart puts the operator's Role there.
  const namespaceObject = await platform.kubectl([
    "create",
    "namespace",
    namespace,
    "--dry-run=client",
    "-o",
    "json",
  ]);
  await platform.kubectl(
    ["apply", "--server-side", "--field-manager=jude-quickstart", "-f", "-"],
    namespaceObject,
  );
  // Recorded before Helm runs, so `down` knows the release, and whether the namespace is ours to delete.
  const operatorNamespace = await platform.client.get(`/api/v1/namespaces/${operatorRelease.namespace}`);
  recordInState({
    operator: {
      release: operatorRelease.name,
      namespace: operatorRelease.namespace,
      namespaceCreated: operatorNamespace === undefined,
    },
  });
  const crd = await platform.client.get<{ metadata: { labels?: Record<string, string> } }>(
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/embeddingmodels.jude.dev",
  );
  const crdsByHelm = crd === undefined || crd.metadata.labels?.["app.kubernetes.io/managed-by"] === "Helm";
  if (!crdsByHelm)
    await platform.kubectl([
      "apply",
      "--server-side",
      "--force-conflicts",
      "--field-manager=jude-quickstart",
      "-f",
      join(repoRoot, "crds", "generated"),
    ]);
  await run(
    platform.env.JUDE_HELM!,
    [
      "upgrade",
      "--install",
      operatorRelease.name,
      join(repoRoot, "charts", "jude-operator"),
      "--kubeconfig",
      platform.env.KUBECONFIG!,
      "--namespace",
      operatorRelease.namespace,
      "--create-namespace",
      "--set",
      "replicaCount=1",
      // Pipeline status (the dashboard's figures, the promotion's CaughtUp gate) every 5 s, not the
      // production default of 30: a story of a few minutes would otherwise wait on that poll at the
      // bootstrap's go-live, the replay's end and the cutover.
      "--set",
      "pipelinePollSeconds=5",
      "--set",
      `crds.install=${crdsByHelm}`,
      "--set-json",
      `watchNamespaces=${JSON.stringify([namespace])}`,
      ...placementValues(),
      "--wait",
      "--timeout",
      "5m",
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  narrator.done(
    `operator installed with Helm (release ${operatorRelease.name} in ${operatorRelease.namespace})`,
  );
}

/**
 * `npm run quickstart -- down`: removes what the quickstart recorded and nothing else — the operator
 * release, the namespaces (the operator's only if the quickstart created it), the story runs' topics,
 * consumer groups and store keys, and the last run's summary — then stops the testbed components it
 * started. Idempotent: what is
 * already gone is skipped; what cannot be reached now stays recorded for the next `down`.
 */
export async function tearDown(narrator: Narrator): Promise<void> {
  // The summary describes what is being removed (or was, by an earlier down): it goes first.
  discardSummary();
  const state = readQuickstartState();
  if (state === undefined) {
    narrator.done("nothing recorded: the quickstart has not run here since the last down");
    return;
  }
  const env = environment();
  const remaining: QuickstartState = { ...state };
  if (env.KUBECONFIG !== undefined && env.JUDE_HELM !== undefined) {
    const platform = platformFrom(env);
    // A record from before the release was recorded: the quickstart installed it, as it always did.
    const operator = state.operator ?? {
      release: operatorRelease.name,
      namespace: operatorRelease.namespace,
      namespaceCreated: false,
    };
    await run(env.JUDE_HELM, [
      "uninstall",
      operator.release,
      "--kubeconfig",
      env.KUBECONFIG,
      "--namespace",
      operator.namespace,
      "--ignore-not-found",
      "--wait",
    ]);
    narrator.done("operator uninstalled");
    // Workers stop with their namespace, before their topics, groups and keys go.
    for (const namespace of state.namespaces) {
      await deleteNamespace(platform, namespace);
      narrator.done(`namespace ${namespace} deleted`);
    }
    if (operator.namespaceCreated) {
      await platform.kubectl([
        "delete",
        "namespace",
        operator.namespace,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=180s",
      ]);
      narrator.done(`namespace ${operator.namespace} deleted`);
    }
    delete remaining.operator;
    remaining.namespaces = [];
  }
  await removeStoryLeftovers(state, env, narrator, remaining);
  if (state.started.length > 0) {
    await down(state.started);
    narrator.done(`testbed: stopped ${state.started.join(", ")}`);
  } else narrator.done("testbed left running (it was up before the quickstart started)");
  remaining.started = [];
  const left =
    remaining.namespaces.length + (remaining.topics?.length ?? 0) + (remaining.stores?.length ?? 0) > 0 ||
    remaining.operator !== undefined;
  writeRemaining(left ? remaining : undefined);
}

/** Kafka topics and groups, and store keys, of the recorded story runs (skipped if not running). */
export async function removeStoryLeftovers(
  state: QuickstartState,
  env: Record<string, string>,
  narrator: Narrator,
  remaining: QuickstartState,
): Promise<void> {
  const topics = state.topics ?? [];
  const groups = state.consumerGroups ?? [];
  if (topics.length + groups.length > 0) {
    if (env.JUDE_KAFKA_BOOTSTRAP === undefined) {
      narrator.done(
        `Kafka is not running: its topics stay recorded for the next down (${topics.join(", ")})`,
      );
    } else {
      const deleted = await deleteKafkaLeftovers(env.JUDE_KAFKA_BOOTSTRAP, { topics, groups });
      narrator.done(
        `Kafka: deleted ${deleted.topics.length} topics and ${deleted.groups.length} consumer groups`,
      );
      remaining.topics = [];
      remaining.consumerGroups = [];
    }
  }
  const stores = state.stores ?? [];
  if (stores.length > 0) {
    if (env.JUDE_REDIS_URL === undefined) {
      narrator.done(`Redis is not running: stores stay recorded for the next down (${stores.join(", ")})`);
    } else {
      const keys = await deleteStoreKeys(env.JUDE_REDIS_URL, stores);
      narrator.done(`Redis: deleted ${keys} keys of stores ${stores.join(", ")}`);
      remaining.stores = [];
    }
  }
}

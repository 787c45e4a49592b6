// What the operator's integration tests share: the CRDs installed the way a user (or Helm) installs
// them — the operator never does —, namespaces that enforce the restricted Pod Security Standard, an
// operator run in-process (also as a ServiceAccount with only the RBAC a test gives it) or as a real
// `jude operator` child process, and reads of what it made.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { imagesFor } from "../../../controllers/shared/image.ts";
import { controllerFactories } from "../../../operator/controllers.ts";
import type { LeaderElectionOptions } from "../../../operator/runtime/leader-elector.ts";
import { Manager } from "../../../operator/runtime/manager.ts";
import { createRootLogger, silentLogger, type Logger } from "../../../plumbing/logger.ts";
import type { WorkloadPlacement } from "../../../controllers/shared/placement.ts";
import type { NearlinePipelineInput } from "../../../crds/index.ts";
import { installCrds as installJudeCrds } from "../../support/crds.ts";
import { requireEnv } from "../../support/env.ts";
import { serviceAccountToken, writeKubeconfig } from "../../support/kubeconfigs.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { pipeline, storeSecret } from "../controllers/objects.ts";

/** A Kubernetes object as kubectl returns it. */
export type Json = { [key: string]: unknown };
export interface Listed<T = Json> {
  items: T[];
}

/** Installs (or updates) the generated CRDs and waits until they are served. */
export const installCrds = (): Promise<void> => installJudeCrds("jude-operator-tests");

/** Creates a namespace whose pods must pass the restricted Pod Security Standard (admission enforces it). */
export async function createRestrictedNamespace(name: string): Promise<void> {
  await kubectl(["create", "namespace", name]);
  await kubectl([
    "label",
    "namespace",
    name,
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
  ]);
}

/** Deletes a namespace without waiting. */
export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(["delete", "namespace", name, "--wait=false", "--ignore-not-found"]);
}

/** Applies objects (YAML or JSON text) server-side as a user would. */
export async function apply(objects: Json[]): Promise<void> {
  await kubectl(
    ["apply", "--server-side", "--field-manager=jude-operator-tests", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}

/**
 * A CPU EmbeddingModel served from a file in the image, with `serving` as given (replicas, auth, ...):
 * nothing to download, so only the operator and the cluster decide how fast it turns Ready.
 */
export function cpuModel(namespace: string, name: string, serving: Json): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name, namespace },
    spec: {
      version: "v1",
      model: { uri: "file:///opt/models/minilm/model.onnx", dimensions: 384 },
      prompts: { query: "query: {{text}}" },
      serving,
    },
  };
}

/**
 * A model whose first version is bootstrapped from a job pipeline, in `namespace`: the store Secret,
 * the CPU model `modelName` (`serving` as given, a `job` prompt) and the example pipeline `jobs` on
 * `topic` pointed at it, `editPipeline` changing its spec further.
 */
export function modelWithJobPipeline(
  namespace: string,
  modelName: string,
  topic: string,
  serving: Json,
  editPipeline: (spec: NearlinePipelineInput["spec"]) => void = () => undefined,
): { secret: Json; model: Json; jobs: Json } {
  const secret = storeSecret();
  (secret.metadata as Json).namespace = namespace;
  const jobs = pipeline("jobs", topic, (spec) => {
    spec.modelRef = { name: modelName };
    editPipeline(spec);
  });
  (jobs.metadata as Json).namespace = namespace;
  const model = cpuModel(namespace, modelName, serving);
  (model.spec as Json).prompts = { job: "Job: {{title}} at {{company}}" };
  // Workers and shards check vectors against it: without one the version stalls (ModelDigestUnknown).
  ((model.spec as Json).model as Json).sha256 = "1".repeat(64);
  return { secret, model, jobs };
}

/** The testbed's images as the operator renders them. */
export const testImages = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");

/**
 * Runs the operator's manager in this process, watching `namespaces`, without leader election: the
 * EmbeddingModel controller, or the `controllers` named, with `placement` for the pods they render.
 */
export function startInProcessOperator(
  namespaces: string[],
  options: {
    controllers?: string[];
    placement?: WorkloadPlacement;
    concurrency?: number;
    /** The pipelines' status poll (`--pipeline-poll-seconds`; 30 s when absent). */
    pipelinePollMs?: number;
    /** The API server to use (the testbed's, KUBECONFIG, when absent). */
    kubeconfigPath?: string;
    /** `--watch-stale-seconds` in ms (300 s when absent). */
    watchStaleMs?: number;
    /** The informers' server-side watch timeout, at least (the operator's 60 s when absent). */
    watchTimeoutSeconds?: number;
    /** How long a key fails before its object is told (ReconcileError; the operator's 60 s when absent). */
    reconcileErrorAfterMs?: number;
    /** Where the manager logs (silent, or as JUDE_TEST_LOG says: 1 for warnings, or a level, when absent). */
    log?: Logger;
    /** Leader election (none when absent: the only replica leads). */
    leaderElection?: LeaderElectionOptions;
  } = {},
): {
  manager: Manager;
  stop: () => Promise<void>;
} {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(options.kubeconfigPath ?? requireEnv("KUBECONFIG"));
  const manager = new Manager({
    kubeConfig,
    namespaces,
    // JUDE_TEST_LOG=1 shows the controllers' failed reconciles (warnings: they are retried, not thrown
    // here) and errors. A level instead of 1 (JUDE_TEST_LOG=debug) logs from that level.
    log:
      options.log ??
      (process.env.JUDE_TEST_LOG
        ? createRootLogger({
            component: "operator-test",
            level: process.env.JUDE_TEST_LOG === "1" ? "warn" : process.env.JUDE_TEST_LOG,
          })
        : silentLogger()),
    http: { host: "127.0.0.1", port: 0 },
    watchStaleMs: options.watchStaleMs ?? 300_000,
    ...(options.watchTimeoutSeconds !== undefined
      ? { watchTimeoutSeconds: options.watchTimeoutSeconds }
      : {}),
    drainMs: 10_000,
    ...(options.reconcileErrorAfterMs !== undefined
      ? { reconcileErrorAfterMs: options.reconcileErrorAfterMs }
      : {}),
    ...(options.leaderElection !== undefined ? { leaderElection: options.leaderElection } : {}),
  });
  const settings = {
    images: testImages,
    concurrency: options.concurrency ?? 4,
    ...(options.pipelinePollMs !== undefined ? { pipelinePollMs: options.pipelinePollMs } : {}),
    ...(options.placement !== undefined ? { placement: options.placement } : {}),
  };
  for (const name of options.controllers ?? ["embedding-model"])
    manager.add(controllerFactories[name]!(settings));
  const stopper = new AbortController();
  const running = manager.run(stopper.signal);
  return {
    manager,
    stop: async () => {
      stopper.abort(new Error("test done"));
      await running;
    },
  };
}

/** A condition of an object's status, if present. */
export function condition(
  object: Json | undefined,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  const conditions = ((object?.status as Json | undefined)?.conditions ?? []) as {
    type: string;
    status: string;
    reason: string;
    message: string;
  }[];
  return conditions.find((entry) => entry.type === type);
}

/** GET an object as JSON, undefined when absent. */
export async function getObject(resource: string, namespace: string): Promise<Json | undefined> {
  const text = await kubectl(["get", resource, "-n", namespace, "--ignore-not-found", "-o", "json"]);
  return text.trim() === "" ? undefined : (JSON.parse(text) as Json);
}

/** Objects of a kind in a namespace with these labels. */
export async function listObjects(resource: string, namespace: string, selector: string): Promise<Json[]> {
  return (await kubectlJson<Listed>(["get", resource, "-n", namespace, "-l", selector])).items;
}

/**
 * Waits until `controller` finished no reconcile for `quietMs`: nothing it watches changes any more
 * (rollouts, status writes and promotion polls are over), so what happens next is only what the test
 * does, or the controller's own resync.
 */
export async function waitUntilAtRest(
  registry: Registry,
  controller: string,
  quietMs: number,
): Promise<void> {
  const reconciles = async () =>
    ((await registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values ?? [])
      .filter((value) => value.labels.controller === controller)
      .reduce((sum, value) => sum + value.value, 0);
  let last = await reconciles();
  let changedAtMs = Date.now();
  await waitFor(
    `no ${controller} reconcile for ${quietMs} ms`,
    async () => {
      const now = await reconciles();
      if (now !== last) [last, changedAtMs] = [now, Date.now()];
      return Date.now() - changedAtMs >= quietMs;
    },
    { timeoutMs: 120_000, intervalMs: 100 },
  );
}

/**
 * The setup most operator test files share: before them, the CRDs, the restricted namespace
 * `namespace` and an in-process operator watching it; after them, the operator stopped and the
 * namespace deleted. Returns the running operator (for use inside the tests and later hooks).
 */
export function useInProcessOperator(namespace: string): () => ReturnType<typeof startInProcessOperator> {
  let operator: ReturnType<typeof startInProcessOperator> | undefined;
  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    operator = startInProcessOperator([namespace]);
  });
  afterAll(async () => {
    await operator?.stop();
    await deleteNamespace(namespace);
  });
  return () => operator!;
}

/** A ClusterRole `name` with `rules`. */
export const clusterRole = (name: string, rules: unknown[]): Json => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRole",
  metadata: { name },
  rules,
});

/** A RoleBinding `name` in `namespace` granting the ClusterRole `role` to the ServiceAccount `operator` of `home`. */
export const operatorRoleBinding = (name: string, namespace: string, role: string, home: string): Json => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "RoleBinding",
  metadata: { name, namespace },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
  subjects: [{ kind: "ServiceAccount", name: "operator", namespace: home }],
});

/**
 * An in-process operator with only the RBAC a test gives it, for what it does with too little. Before
 * the tests: the CRDs; the restricted `namespaces`; the ServiceAccount `operator` of the first
 * (`home`); the ClusterRoles `clusterRoles` (name → rules); read access to nodes and namespaces (a
 * ClusterRole and ClusterRoleBinding `${name}-cluster`); in each namespace of `roleBindings` a
 * RoleBinding `name` to the ClusterRole it names; `objects` applied; and the operator started as that
 * ServiceAccount, watching `namespaces`. After them: the operator stopped, the ClusterRoleBinding,
 * ClusterRoles and namespaces deleted. Returns the running operator.
 */
export function useOperatorWithRbac(options: {
  name: string;
  namespaces: string[];
  clusterRoles: Record<string, unknown[]>;
  roleBindings: Record<string, string>;
  objects: Json[];
  /** The operator's own settings (`--watch-stale-seconds`, watch timeouts, when a failure is told, `--controllers`). */
  settings?: Pick<
    NonNullable<Parameters<typeof startInProcessOperator>[1]>,
    "watchStaleMs" | "watchTimeoutSeconds" | "reconcileErrorAfterMs" | "controllers"
  >;
}): () => ReturnType<typeof startInProcessOperator> {
  const { name, namespaces } = options;
  const home = namespaces[0]!;
  let operator: ReturnType<typeof startInProcessOperator> | undefined;
  beforeAll(async () => {
    await installCrds();
    for (const namespace of namespaces) await createRestrictedNamespace(namespace);
    await kubectl(["create", "serviceaccount", "operator", "-n", home]);
    await apply([
      ...Object.entries(options.clusterRoles).map(([role, rules]) => clusterRole(role, rules)),
      clusterRole(`${name}-cluster`, [
        { apiGroups: [""], resources: ["nodes", "namespaces"], verbs: ["get", "list", "watch"] },
      ]),
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: `${name}-cluster` },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${name}-cluster` },
        subjects: [{ kind: "ServiceAccount", name: "operator", namespace: home }],
      },
      ...Object.entries(options.roleBindings).map(([namespace, role]) =>
        operatorRoleBinding(name, namespace, role, home),
      ),
    ]);
    const kubeconfigPath = await writeKubeconfig(
      join(mkdtempSync(join(tmpdir(), "jude-operator-rbac-")), "config"),
      "operator",
      { token: await serviceAccountToken(home, "operator") },
    );
    await apply(options.objects);
    operator = startInProcessOperator(namespaces, { kubeconfigPath, ...options.settings });
  });
  afterAll(async () => {
    await operator?.stop();
    await kubectl(["delete", "clusterrolebinding", `${name}-cluster`, "--ignore-not-found"]);
    await kubectl([
      "delete",
      "clusterrole",
      ...Object.keys(options.clusterRoles),
      `${name}-cluster`,
      "--ignore-not-found",
    ]);
    for (const namespace of namespaces) await deleteNamespace(namespace);
  });
  return () => operator!;
}

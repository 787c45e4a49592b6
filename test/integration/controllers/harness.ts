// The controllers' integration harness: runs the operator's controllers in this process against the
// testbed's API server, in a namespace of their own that enforces the restricted Pod Security
// Standard (the real admission plugin checks every pod they render), and plays what kwok's pretend
// pods cannot: the bootstrap shards (vectors written to the real Redis store, the version marked
// complete, the run's status Succeeded), the pipeline's reported lag, and the objects a user applies.
import { KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { desiredVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import { nearlinePipelineController } from "../../../controllers/nearline-pipeline/controller.ts";
import { parseEmbeddingModel, type EmbeddingModel } from "../../../crds/index.ts";
import type { ControllerSettings } from "../../../operator/controllers.ts";
import { Manager, type ManagerOptions } from "../../../operator/runtime/manager.ts";
import { createRootLogger, silentLogger } from "../../../plumbing/logger.ts";
import {
  connectRedis,
  markVersionComplete,
  openStore,
  parseClusterNodes,
  registerVersion,
  StoreWriter,
  type Store,
} from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import type { JsonObject } from "../../fixtures/examples.ts";
import {
  model,
  pipeline,
  promotionIds,
  promotionModelAt,
  snapshotEvents,
  storeSecret,
  versionDigest,
} from "./objects.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  testImages,
  type Json,
} from "../operator/operator-harness.ts";

/** A running in-process operator with the two pipeline controllers, watching one namespace. */
export interface ControllersHarness {
  namespace: string;
  /** The manager's metrics registry (the controllers' domain metrics are on it). */
  registry: Registry;
  stop(): Promise<void>;
}

/**
 * Installs the CRDs, creates a restricted namespace and starts the controllers on it; `options` gives
 * the controllers shorter timers (settings) or the manager other options than startManager's.
 */
export async function startControllers(
  prefix: string,
  options: { settings?: Partial<ControllerSettings>; manager?: Partial<ManagerOptions> } = {},
): Promise<ControllersHarness> {
  await installCrds();
  const namespace = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  await createRestrictedNamespace(namespace);

  let registry = new Registry();
  const stop = startManager(
    namespace,
    "controllers-test",
    (manager) => {
      registry = manager.metrics.registry;
      const settings = { images: testImages, concurrency: 2, registry, ...options.settings };
      manager.add(nearlinePipelineController(settings));
      manager.add(bootstrapRunController(settings));
    },
    options.manager,
  );
  return {
    namespace,
    registry,
    async stop() {
      await stop();
      await deleteNamespace(namespace);
    },
  };
}

/**
 * Runs a manager with the controllers `add` registers on `namespace` (one or several), in this process; returns its
 * stop. JUDE_TEST_LOG=1 shows the controllers' failed reconciles (warnings: they are retried, not thrown
 * here) and errors. It reaches the API server through `kubeconfigPath` when given (a test's fault proxy).
 */
export function startManager(
  namespace: string | readonly string[],
  component: string,
  add: (manager: Manager) => void,
  { kubeconfigPath, ...options }: Partial<ManagerOptions> & { kubeconfigPath?: string | undefined } = {},
): () => Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath ?? requireEnv("KUBECONFIG"));
  const manager = new Manager({
    kubeConfig,
    namespaces: typeof namespace === "string" ? [namespace] : namespace,
    log: process.env.JUDE_TEST_LOG ? createRootLogger({ component, level: "warn" }) : silentLogger(),
    http: { host: "127.0.0.1", port: 0 },
    watchStaleMs: 300_000,
    drainMs: 5_000,
    ...options,
  });
  add(manager);
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  return async () => {
    abort.abort();
    await running;
  };
}

/**
 * Starts the controllers as {@link startControllers} does, with a 5 s pipeline poll (30 s in
 * production: a version record the test applies wakes no pipeline, so a held-back pipeline's status
 * would come only at the 30 s poll), on a changelog topic `prefix-…` of `produced[p]` snapshot events
 * on each partition p, with the store Secret, model jude-minilm (looked at by its controller, as the
 * test's version records stand in for it) and pipeline "jobs" on that topic applied.
 */
export async function startJobsControllers(
  prefix: string,
  produced: readonly number[],
): Promise<{ harness: ControllersHarness; topic: string }> {
  const harness = await startControllers(prefix, { settings: { pipelinePollMs: 5_000 } });
  const topic = uniqueTopic(prefix);
  await createTopics([topic], produced.length);
  await produceEvents(topic, snapshotEvents(produced));
  await applyObjects(harness.namespace, [storeSecret(), model(), pipeline("jobs", topic)]);
  await markModelObserved(harness.namespace, "jude-minilm");
  return { harness, topic };
}

/** A status condition as the controllers write it. */
export type Condition = { type: string; status: string; reason: string; message: string };

/** An object as the tests read its status conditions. */
export type WithConditions = { status?: { conditions?: Condition[] } };

/**
 * What the EmbeddingModel controller records of jude-minilm's `version` while it promotes, as an
 * object to apply in `namespace`: today's spec, its serving section changed by `options.serving` when
 * given, with workers (from the bootstrap's offsets with `options.fromBootstrap`).
 */
export async function minilmVersionRecord(
  namespace: string,
  version: string,
  options: {
    promotionStartTime: string;
    fromBootstrap?: boolean;
    serving?: (serving: EmbeddingModel["spec"]["serving"]) => object;
  },
) {
  const stored = parseEmbeddingModel(
    await kubectlJson(["get", "-n", namespace, "embeddingmodel/jude-minilm"]),
  );
  const serving = options.serving?.(stored.spec.serving) ?? stored.spec.serving;
  const object = desiredVersionRecord(stored, {
    version,
    spec: {
      model: stored.spec.model,
      prompts: stored.spec.prompts,
      serving: serving as EmbeddingModel["spec"]["serving"],
    },
    promotionStartTime: options.promotionStartTime,
    workers: true,
    fromBootstrap: options.fromBootstrap,
  });
  return { ...object, metadata: { ...object.metadata, namespace: undefined } };
}

/** Server-side applies objects (as JSON) in `namespace`, as a user would with kubectl. */
export async function applyObjects(namespace: string, objects: readonly object[]): Promise<void> {
  for (const object of objects)
    await kubectl(
      ["apply", "--server-side", "--field-manager=jude-test-user", "-n", namespace, "-f", "-"],
      JSON.stringify(object),
    );
}

/**
 * Writes the status an EmbeddingModel controller would have written by now (observedGeneration only),
 * for tests that run the pipeline controllers without it: a model no controller has looked at yet
 * (status.observedGeneration 0, the CRD default) gets no nearline workers.
 */
export async function markModelObserved(namespace: string, name: string): Promise<void> {
  const model = await kubectlJson<{ metadata: { generation: number } }>([
    "get",
    "-n",
    namespace,
    `embeddingmodel/${name}`,
  ]);
  await patchStatus(namespace, `embeddingmodel/${name}`, { observedGeneration: model.metadata.generation });
}

/** Merge-patches `status` into `resource`'s status subresource, as its controller would write it. */
export async function patchStatus(namespace: string, resource: string, status: object): Promise<void> {
  await kubectl([
    "patch",
    "-n",
    namespace,
    resource,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}

/** Renames key `from` of the store Secret jude-redis in `namespace` to `to` (a JSON-patch move). */
export async function renameStoreSecretKey(namespace: string, from: string, to: string): Promise<string> {
  return kubectl([
    "patch",
    "-n",
    namespace,
    "secret/jude-redis",
    "--type=json",
    "-p",
    JSON.stringify([{ op: "move", from: `/data/${from}`, path: `/data/${to}` }]),
  ]);
}

/** Merge-patches the store Secret jude-redis in `namespace` with `patch` (`data`, `stringData`). */
export async function patchStoreSecret(namespace: string, patch: object): Promise<string> {
  return kubectl([
    "patch",
    "-n",
    namespace,
    "secret/jude-redis",
    "--type=merge",
    "-p",
    JSON.stringify(patch),
  ]);
}

/** Resumes the suspended BootstrapRun `name` in `namespace` (spec.suspend false), as a user would. */
export async function resumeRun(namespace: string, name: string): Promise<void> {
  await kubectl([
    "patch",
    "-n",
    namespace,
    `bootstraprun/${name}`,
    "--type=merge",
    "-p",
    '{"spec":{"suspend":false}}',
  ]);
}

/** The Events about EmbeddingModels in `namespace`; `selector` narrows them (e.g. `,reason=Promoted`). */
export async function embeddingModelEvents(namespace: string, selector = ""): Promise<Json[]> {
  return (
    await kubectlJson<{ items: Json[] }>([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      `involvedObject.kind=EmbeddingModel${selector}`,
    ])
  ).items;
}

/** One Event as a test reads it. */
export interface EventSeen {
  reason: string;
  message: string;
  count?: number;
}

/** The Warning Events about the `kind` object `name` in `namespace`. */
export async function warningEventsOf(namespace: string, kind: string, name: string): Promise<EventSeen[]> {
  return (
    await kubectlJson<{ items: EventSeen[] }>([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      `involvedObject.kind=${kind},involvedObject.name=${name},type=Warning`,
    ])
  ).items;
}

/**
 * Merge-patches EmbeddingModel jude-minilm in `namespace` as a user would with kubectl: its spec, or
 * (a `status` patch, through the status subresource) its status.
 */
export async function patchMinilm(
  namespace: string,
  patch: { spec: object } | { status: object },
): Promise<void> {
  await kubectl([
    "patch",
    "-n",
    namespace,
    "embeddingmodel/jude-minilm",
    ...("status" in patch ? ["--subresource=status"] : []),
    "--type=merge",
    "-p",
    JSON.stringify(patch),
  ]);
}

/** Waits until `kubectl get` of `resource` satisfies `accept`, and returns it. */
export async function waitForObject<T>(
  namespace: string,
  resource: string,
  description: string,
  accept: (object: T) => boolean,
): Promise<T> {
  let last: T | undefined;
  await waitFor(
    description,
    async () => {
      last = await kubectlJson<T>(["get", "-n", namespace, resource]);
      return accept(last);
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  return last!;
}

/** A running EmbeddingModel controller; `parity` is what its parity measurement answers. */
export interface PromotionOperator {
  registry: Registry;
  stop(): Promise<void>;
}

/**
 * Starts the EmbeddingModel controller on `namespace`. The parity gate re-embeds through the
 * candidate's serving pods, which do not run on kwok nodes: `parity` answers for them here (the
 * end-to-end test runs the real measurement); `kubeconfigPath` as startManager's.
 */
export function startPromotionOperator(
  namespace: string | readonly string[],
  parity: (version: string) => ParityObservation | Promise<ParityObservation>,
  settings: Partial<ControllerSettings> = {},
  kubeconfigPath?: string,
): PromotionOperator {
  let registry = new Registry();
  const stop = startManager(
    namespace,
    "promotion-test",
    (manager) => {
      registry = manager.metrics.registry;
      manager.add(
        embeddingModelController({
          images: testImages,
          concurrency: 2,
          registry,
          measureParity: async (target) => parity(target.version),
          ...settings,
        }),
      );
    },
    { kubeconfigPath },
  );
  return { registry, stop };
}

/** The test's own store (name unique per run) on the testbed's Redis; `buckets` when not the default. */
export async function openTestStore(
  name: string,
  options: { buckets?: number; cluster?: boolean } = {},
): Promise<{ store: Store; close: () => void }> {
  const { cluster, ...storeOptions } = options;
  const client = connectRedis(
    cluster === true
      ? { clusterNodes: parseClusterNodes(requireEnv("JUDE_REDIS_CLUSTER_NODES")) }
      : { url: requireEnv("JUDE_REDIS_URL") },
  );
  const store = await openStore(client, { name, create: true, ...storeOptions });
  return { store, close: () => client.disconnect() };
}

/** Writes `ids` of entity job into `version` (as shards or workers would), 4-dimensional unit vectors. */
export async function writeVectors(store: Store, version: string, digest: string, ids: readonly string[]) {
  await registerVersion(store, version, { modelDigest: digest, dimension: 4 });
  await new StoreWriter(store).write(
    ids.map((id, index) => ({
      kind: "upsert" as const,
      entity: "job",
      id,
      version,
      eventTimeMs: 1_000 + index,
      offset: index,
      partition: 0,
      vector: [0.5, 0.5, 0.5, 0.5],
      modelDigest: digest,
      contentHash: `h-${id}`,
    })),
  );
}

/**
 * Builds `version` of the test model's "jobs" pipeline as its promotion would: `ids` written with the
 * version's digest, the store marking it complete, its run `jobs-<version>-promotion` Succeeded, and
 * the pipeline's workers of `liveVersions` reporting that they caught up.
 */
export async function buildVersion(
  store: Store,
  namespace: string,
  version: string,
  liveVersions: string[],
  ids: readonly string[] = promotionIds,
) {
  await writeVectors(store, version, `sha256:${versionDigest(version)}`, ids);
  await finishBootstrap(store, namespace, `jobs-${version}-promotion`, version);
  await reportCaughtUp(namespace, "jobs", liveVersions);
}

/** Finishes `version`'s bootstrap: the store marks it complete and its run reports Succeeded. */
export async function finishBootstrap(store: Store, namespace: string, runName: string, version: string) {
  await markVersionComplete(store, version);
  // The operator creates a promotion's run in a reconcile of its own: on a loaded machine it may not
  // exist yet when the test plays its shards (the patch failed NotFound).
  await waitForObject(namespace, `bootstraprun/${runName}`, `BootstrapRun ${runName} created`, () => true);
  await patchStatus(namespace, `bootstraprun/${runName}`, {
    phase: "Succeeded",
    progress: { total: 10, processed: 10, percent: 100 },
    watermarks: {
      // Captured now, as the run's controller does when the run starts (after its promotion did).
      capturedTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      topic: "jobs",
      partitions: [{ partition: 0, offset: 10 }],
    },
  });
}

/** Reports the pipeline's workers of each version caught up (what the pipeline controller would write). */
export async function reportCaughtUp(namespace: string, pipeline: string, versions: string[]) {
  await patchStatus(namespace, `nearlinepipeline/${pipeline}`, {
    versions: versions.map((version) => ({ version, lag: 0, readyReplicas: 1 })),
  });
}

export { condition as conditionOf } from "../operator/operator-harness.ts";

/** What the promotion tests share: a namespace, a store, a `jobs` pipeline of `jobs-model`, the operator. */
export interface PromotionSetup {
  namespace: string;
  /** The test's own store on the testbed's Redis (name unique per run). */
  store: Store;
  storeName: string;
  /** The `jobs` pipeline as applied (to delete and apply it again). */
  jobsPipeline: JsonObject;
  operator: PromotionOperator;
  /** Stops the operator, closes the store and deletes the namespace. */
  stop(): Promise<void>;
}

/**
 * Sets up a promotion test: the CRDs, a restricted namespace `<prefix>-…`, a one-partition changelog
 * topic, the test's own store (`buckets` when not the default), the store Secret and the `jobs`
 * pipeline of model `jobs-model` writing to that store, and the EmbeddingModel controller whose
 * parity measurement answers `parity`. The model itself is left to the test. With `cluster` the store
 * is on the testbed's Redis Cluster: the Secret holds its seed nodes and the pipeline says
 * spec.sinks.store.cluster. `settings` gives the controller shorter timers (modelResyncMs, …).
 */
export async function setUpPromotion(
  prefix: string,
  parity: (version: string) => ParityObservation | Promise<ParityObservation>,
  options: {
    buckets?: number;
    cluster?: boolean;
    settings?: Partial<ControllerSettings>;
    /** The operator reaches the API server through this kubeconfig (a test's fault proxy). */
    kubeconfigPath?: string;
  } = {},
): Promise<PromotionSetup> {
  await installCrds();
  const unique = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  const namespace = unique;
  await createRestrictedNamespace(namespace);
  const topic = uniqueTopic(prefix);
  await createTopics([topic], 1);
  const { settings, kubeconfigPath, ...storeOptions } = options;
  const { store, close } = await openTestStore(unique, storeOptions);
  const jobsPipeline = pipeline("jobs", topic, (spec) => {
    spec.modelRef = { name: "jobs-model" };
    spec.sinks.store.name = unique;
    if (options.cluster === true) spec.sinks.store.cluster = true;
  });
  const secret = storeSecret();
  if (options.cluster === true) secret.stringData = { url: requireEnv("JUDE_REDIS_CLUSTER_NODES") };
  await applyObjects(namespace, [secret, jobsPipeline]);
  const operator = startPromotionOperator(namespace, parity, settings, kubeconfigPath);
  return {
    namespace,
    store,
    storeName: unique,
    jobsPipeline,
    operator,
    async stop() {
      await operator.stop();
      close();
      await deleteNamespace(namespace);
    },
  };
}

/**
 * Moves `jobs-model` of `namespace` to `version` (with `promotion` settings) as a user would, and waits
 * until the operator created the version's run `jobs-<version>-promotion`.
 */
export async function startPromotion(
  namespace: string,
  version: string,
  promotion: JsonObject = {},
): Promise<void> {
  await applyObjects(namespace, [promotionModelAt(version, promotion)]);
  await waitFor(
    `${version}'s run`,
    async () => (await getObject(`bootstraprun/jobs-${version}-promotion`, namespace)) !== undefined,
    { timeoutMs: 90_000, intervalMs: 100 },
  );
}

/**
 * Moves `jobs-model` to `version` with a Manual cutover as a user would, plays its bootstrap (vectors
 * written, the run Succeeded, `live` versions' workers caught up) and waits until the version is
 * AwaitingCutover: every gate passed, the approval not given yet.
 */
export async function awaitCutover(
  setup: Pick<PromotionSetup, "namespace" | "store">,
  version: string,
  live: string[],
): Promise<void> {
  const { namespace, store } = setup;
  await startPromotion(namespace, version, { cutover: "Manual" });
  await buildVersion(store, namespace, version, live);
  await waitFor(
    `${version} AwaitingCutover`,
    async () => {
      const model = await getObject("embeddingmodel/jobs-model", namespace);
      const versions = (model?.status as { versions?: Json[] } | undefined)?.versions;
      return versions?.find((entry) => entry.version === version)?.phase === "AwaitingCutover";
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

/**
 * Promotes `jobs-model` to `version` (with `promotion` settings) as a user would, plays its bootstrap
 * (vectors written, the run Succeeded, `live` versions' workers caught up) and waits until it is active.
 */
export async function promoteThroughBootstrap(
  setup: Pick<PromotionSetup, "namespace" | "store">,
  version: string,
  live: string[],
  promotion: JsonObject = {},
): Promise<void> {
  const { namespace, store } = setup;
  const until = (what: string, check: () => Promise<boolean>) =>
    waitFor(what, check, { timeoutMs: 90_000, intervalMs: 100 });
  await startPromotion(namespace, version, promotion);
  await buildVersion(store, namespace, version, live);
  await until(`${version} active`, async () => {
    const model = await getObject("embeddingmodel/jobs-model", namespace);
    return (model?.status as { activeVersion?: string } | undefined)?.activeVersion === version;
  });
}

/**
 * `kubectl delete --cascade=orphan` of `name` in `namespace`, returning once it is gone: the garbage
 * collector has removed its references from its children and left them.
 */
export async function deleteOrphaning(namespace: string, name: string): Promise<void> {
  await kubectl(["delete", "-n", namespace, name, "--cascade=orphan", "--wait=true", "--timeout=60s"]);
}

/**
 * Whether `name` exists in `namespace` without owner references: left by an orphaning delete, not
 * deleted by the garbage collector.
 */
export async function orphaned(name: string, namespace: string): Promise<boolean> {
  const metadata = (await getObject(name, namespace))?.metadata as Json | undefined;
  return metadata !== undefined && metadata.ownerReferences === undefined;
}

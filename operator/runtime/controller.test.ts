import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../plumbing/logger.ts";
import { KubeApiError } from "./api-error.ts";
import { Controller } from "./controller.ts";
import { OwnerDeleted } from "./controller-client.ts";
import { InformerCache, type Unsynced } from "./informer-cache.ts";
import type { InformerHandler } from "./informer.ts";
import type { KubeClient } from "./kube-client.ts";
import { quietKubeClient } from "../../test/support/quiet-kube-client.ts";
import { createOperatorMetrics } from "./metrics.ts";
import { resourcePath, resourceTypes, type ResourceType } from "./resource-types.ts";
import type { ControllerDefinition, KubeObject } from "./types.ts";

const modelAt = (resourceVersion: string, phase: string | undefined): KubeObject => ({
  apiVersion: "jude.dev/v1alpha1",
  kind: "EmbeddingModel",
  metadata: { name: "shop", namespace: "ns", uid: "u1", resourceVersion },
  ...(phase === undefined ? {} : { status: { phase } }),
});

/**
 * A controller over one model whose reconcile announces each phase change it makes (as the
 * EmbeddingModel's does: the status it read against the status it writes), on a cache the test moves
 * by hand, as a watch would, and an API server answering each status write with the next version.
 */
/** A cache holding one EmbeddingModel (resourceVersion 1), every namespace synced unless told. */
const modelCache = (unsyncedIn: (namespace: string) => Unsynced[] = () => []): InformerCache =>
  ({
    use: () => undefined,
    onRefused: () => undefined,
    onSynced: () => undefined,
    get: () => modelAt("1", undefined),
    list: () => [],
    unsyncedIn,
  }) as unknown as InformerCache;

function setUp() {
  let cached = modelAt("1", undefined);
  let handler: InformerHandler | undefined;
  let served = 1;
  const announced: string[] = [];
  const metrics = createOperatorMetrics();
  const cache = {
    use: (_type: unknown, options: { handler?: InformerHandler }) => (handler ??= options.handler),
    get: () => cached,
    list: () => [],
    syncedIn: () => true,
    unsyncedIn: () => [],
    onRefused: () => undefined,
    onSynced: () => undefined,
  } as unknown as InformerCache;
  const client = {
    apply: async (_path: string, object: KubeObject) => {
      served += 1;
      return { ...object, metadata: { ...object.metadata, resourceVersion: String(served) } };
    },
    create: async (_path: string, event: { message: string }) => void announced.push(event.message),
    // The same Event again (Kubernetes' aggregation: its count bumped).
    mergePatch: async (_path: string, patch: { count: number }) =>
      void announced.push(`count ${patch.count}`),
  } as unknown as KubeClient;
  const controller = new Controller(
    {
      name: "embedding-model",
      primary: resourceTypes.embeddingModel,
      async reconcile(context) {
        const model = context.cache.get(resourceTypes.embeddingModel, context.key)!;
        const was = (model.status as { phase?: string } | undefined)?.phase;
        const phase = was === undefined ? "Deploying" : "Bootstrapping";
        if (was === phase) return;
        await context.client.applyStatus({ ...model, status: { phase } });
        context.events.normal(model, phase, `${was ?? "new"} -> ${phase}`);
      },
    },
    { client, cache, metrics, log: silentLogger() },
  );
  /** The watch delivers the object as the server now has it. */
  const deliver = (phase: string) => {
    const previous = cached;
    cached = modelAt(String(served), phase);
    handler!("update", cached, previous);
  };
  return { controller, announced, deliver, metrics };
}

/** Waits until the queue handed out every waiting key and its reconcile ended. */
async function drained(controller: Controller): Promise<void> {
  await vi.waitFor(() => expect(controller.queue.length + controller.queue.inProgress).toBe(0));
  await controller.queue.idle();
  await new Promise((resolve) => setImmediate(resolve)); // the recorder's Event writes
}

/** The API server's refusal (`statusCode`) of the list of Deployments in namespace ns. */
const refusedDeployments = (statusCode: number): Unsynced => ({
  resource: "deployments.apps",
  namespaced: true,
  namespace: "ns",
  error: new KubeApiError(statusCode, `GET /apis/apps/v1/namespaces/ns/deployments: ${statusCode} refused`),
});

/**
 * An embedding-model controller with `reconcile` and `reportNotSynced` over a cache that holds
 * `model()` and whose lists of a namespace are unsynced as `unsyncedIn` says, counting in `metrics`.
 */
function waitingController(
  model: () => KubeObject | undefined,
  unsyncedIn: (namespace: string) => Unsynced[],
  definition: Pick<ControllerDefinition, "reconcile" | "reportNotSynced">,
  metrics = createOperatorMetrics(),
): Controller {
  const cache = {
    use: () => undefined,
    onRefused: () => undefined,
    onSynced: () => undefined,
    get: model,
    list: () => [],
    unsyncedIn,
  } as unknown as InformerCache;
  return new Controller(
    { name: "embedding-model", primary: resourceTypes.embeddingModel, ...definition },
    { client: {} as KubeClient, cache, metrics, log: silentLogger() },
  );
}

describe("controller", () => {
  it("does not reconcile a key from a copy older than its own last status write", async () => {
    const { controller, announced, deliver, metrics } = setUp();
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(announced).toEqual(["new -> Deploying"]);
    // A child's event wakes the model before the watch brought the status written above: reconciling
    // now would announce "new -> Deploying" again.
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(announced).toEqual(["new -> Deploying"]);
    // Counted, so a watch that lags shows in the metrics.
    const deferred = (await metrics.reconciles.get()).values.find(
      (value) => value.labels["result"] === "deferred",
    );
    expect(deferred?.value).toBe(1);
    // The watch brings the write, which queues the key: the reconcile reads the status it wrote.
    deliver("Deploying");
    await drained(controller);
    expect(announced).toEqual(["new -> Deploying", "Deploying -> Bootstrapping"]);
    deliver("Bootstrapping");
    await drained(controller);
    expect(announced).toEqual(["new -> Deploying", "Deploying -> Bootstrapping"]);
    await controller.stop();
  });

  it("says once per cause why a key of a namespace that cannot be listed waits, until it is reconciled", async () => {
    let unsynced: Unsynced[] = [refusedDeployments(403)];
    const told: string[] = [];
    let reconciled = 0;
    const controller = waitingController(
      () => modelAt("1", undefined),
      (namespace) => (namespace === "ns" ? unsynced : []),
      {
        reconcile: async () => void (reconciled += 1),
        reportNotSynced: async (context, cause) => void told.push(`${context.key.name}: ${cause}`),
      },
    );
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toEqual([
      "shop: cannot list deployments.apps in namespace ns, which the operator's RBAC does not allow " +
        "(see the rules of the chart's templates/rbac.yaml): GET /apis/apps/v1/namespaces/ns/deployments: 403 refused",
    ]);
    // Retried (its status write's watch event, the delayed retry): nothing said again.
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toHaveLength(1);
    expect(reconciled).toBe(0);
    // Another namespace is reconciled as usual.
    controller.queue.add("other/shop");
    await drained(controller);
    expect(reconciled).toBe(1);
    // The list succeeds: the key is reconciled (which writes the controller's own status).
    unsynced = [];
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(reconciled).toBe(2);
    // A server error rather than a refusal may pass: not said before the key waited a failure's time.
    unsynced = [refusedDeployments(500)];
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toHaveLength(1);
    // Refused again after a reconcile: said again.
    unsynced = [refusedDeployments(403)];
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toHaveLength(2);
    await controller.stop();
  });
});

describe("controller: a key told it is not reconciled until its namespace's lists succeed", () => {
  // Was: jude_operator_reconcile_failing (the chart's JudeReconcileFailing alert) stayed absent for an
  // object Stalled with reason ReconcileError because the operator could not list what it reads, so an
  // object left unreconciled for hours by a narrowed RBAC raised no alert.
  it("is counted as failing while it waits, and no longer once it is reconciled or deleted", async () => {
    let unsynced: Unsynced[] = [refusedDeployments(403)];
    let model: KubeObject | undefined = modelAt("1", undefined);
    const metrics = createOperatorMetrics();
    const controller = waitingController(
      () => model,
      (namespace) => (namespace === "ns" ? unsynced : []),
      { reconcile: async () => undefined, reportNotSynced: async () => undefined },
      metrics,
    );
    const failing = async () =>
      (await metrics.reconcileFailing.get()).values.map((value) => `${value.labels.name}=${value.value}`);
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(await failing()).toEqual(["shop=1"]);
    // The list succeeds: reconciled, no longer failing.
    unsynced = [];
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(await failing()).toEqual([]);
    // Refused again, then deleted while it waits: its series goes with it.
    unsynced = [refusedDeployments(403)];
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(await failing()).toEqual(["shop=1"]);
    model = undefined;
    unsynced = [{ ...refusedDeployments(403) }];
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(await failing()).toEqual([]);
    await controller.stop();
  });
});

describe("controller: a key whose definition says it is not held back by the lists", () => {
  // A finished BootstrapRun waits on no list: its reportNotSynced writes no Stalled on it, so counted
  // as failing it raised JudeReconcileFailing for every finished run of the namespace, for as long as
  // the lists stay refused, with nothing on the run to say why.
  it("is not counted as failing", async () => {
    const metrics = createOperatorMetrics();
    const controller = waitingController(
      () => modelAt("1", "Succeeded"),
      () => [refusedDeployments(403)],
      { reconcile: async () => undefined, reportNotSynced: async () => false },
      metrics,
    );
    controller.start(new AbortController().signal);
    controller.queue.add("ns/finished");
    await drained(controller);
    expect((await metrics.reconcileFailing.get()).values).toEqual([]);
    await controller.stop();
  });
});

describe("controller: a key waiting for its namespace's lists", () => {
  it("says why again when the object it said it on changed generation or was replaced", async () => {
    const unsynced = [refusedDeployments(403)];
    let model: KubeObject = {
      ...modelAt("1", undefined),
      metadata: { ...modelAt("1", undefined).metadata, generation: 1 },
    };
    const told: string[] = [];
    const controller = waitingController(
      () => model,
      () => unsynced,
      {
        reconcile: async () => undefined,
        reportNotSynced: async (context) => {
          const object = context.cache.get(resourceTypes.embeddingModel, context.key)!;
          told.push(`${object.metadata?.uid} generation ${object.metadata?.generation}`);
        },
      },
    );
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toEqual(["u1 generation 1"]);
    // The user edits the spec: what was said is about generation 1, which kstatus no longer reads.
    model = { ...model, metadata: { ...model.metadata, generation: 2 } };
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toEqual(["u1 generation 1", "u1 generation 2"]);
    // Deleted and created again under the same name: the new object was told nothing yet.
    model = { ...model, metadata: { ...model.metadata, uid: "u2", generation: 1 } };
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toEqual(["u1 generation 1", "u1 generation 2", "u2 generation 1"]);
    await controller.stop();
  });
});

describe("controller: a key waiting for a list refused first as a watch, then as a list", () => {
  it("says why once: the same refused resource is one cause, whatever the API server's wording", async () => {
    const refused = (verb: string): Unsynced[] => [
      {
        ...refusedDeployments(403),
        error: new KubeApiError(403, `deployments.apps is forbidden: cannot ${verb} resource "deployments"`),
      },
    ];
    let unsynced = refused("watch");
    const told: string[] = [];
    const controller = waitingController(
      () => modelAt("1", undefined),
      () => unsynced,
      { reconcile: async () => undefined, reportNotSynced: async (_, cause) => void told.push(cause) },
    );
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await drained(controller);
    // The informer's watch was refused; then the fresh list it tried instead: one cause, one Event.
    unsynced = refused("list");
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(/cannot watch resource "deployments"/);
    await controller.stop();
  });
});

describe("controller: a key waiting for its namespace's lists whose status it may not write", () => {
  it("does not send the refused status write again at each retry", async () => {
    const unsynced = [refusedDeployments(403)];
    let writes = 0;
    const controller = waitingController(
      () => modelAt("1", undefined),
      () => unsynced,
      {
        reconcile: async () => undefined,
        reportNotSynced: async () => {
          writes += 1;
          throw new KubeApiError(403, "PATCH .../embeddingmodels/shop/status: 403 Forbidden refused");
        },
      },
    );
    controller.start(new AbortController().signal);
    for (let retry = 0; retry < 3; retry += 1) {
      controller.queue.add("ns/shop");
      await drained(controller);
    }
    expect(writes).toBe(1);
    await controller.stop();
  });
});

describe("controller: a key of a namespace where a list was refused", () => {
  /**
   * A real shared cache over namespace ns whose list of `refused` (HorizontalPodAutoscalers unless
   * told) is refused (403), holding the model shop, the BootstrapRun fill and the pipeline feed.
   */
  function refusingAutoscalers(refused: ResourceType = resourceTypes.horizontalPodAutoscaler) {
    const refusedPath = resourcePath(refused, "ns");
    const objects = new Map(
      (
        [
          [resourceTypes.embeddingModel, "shop"],
          [resourceTypes.bootstrapRun, "fill"],
          [resourceTypes.nearlinePipeline, "feed"],
        ] as const
      ).map(([type, name]) => [
        resourcePath(type, "ns"),
        { kind: type.kind, metadata: { namespace: "ns", name, resourceVersion: "1" } },
      ]),
    );
    const client = quietKubeClient(async (path) => {
      if (path === refusedPath) throw new KubeApiError(403, `GET ${path}: 403 Forbidden`, "Forbidden");
      const object = objects.get(path);
      return { items: object === undefined ? [] : [object], resourceVersion: "1" };
    });
    const metrics = createOperatorMetrics();
    return {
      client,
      metrics,
      cache: new InformerCache({ client, namespaces: ["ns"], log: silentLogger(), metrics }),
    };
  }

  it("is deferred only by the lists of the types its controller reads, and told only of those", async () => {
    const { client, metrics, cache } = refusingAutoscalers();
    const told: string[] = [];
    const reconciled: string[] = [];
    const running = (name: string, primary: ResourceType, owns: ResourceType[]) =>
      new Controller(
        {
          name,
          primary,
          owns,
          reconcile: async (context) => void reconciled.push(`${name} ${context.key.name}`),
          reportNotSynced: async (context, cause) => void told.push(`${name} ${context.key.name}: ${cause}`),
        },
        { client, cache, metrics, log: silentLogger() },
      );
    // Like the BootstrapRun controller (reads Jobs, never autoscalers) beside the EmbeddingModel's.
    const runs = running("bootstrap-run", resourceTypes.bootstrapRun, [resourceTypes.job]);
    const models = running("embedding-model", resourceTypes.embeddingModel, [
      resourceTypes.horizontalPodAutoscaler,
    ]);
    await cache.start();
    // The informers' adds queue fill and shop.
    for (const controller of [runs, models]) controller.start(new AbortController().signal);
    await drained(runs);
    await drained(models);
    expect(reconciled).toEqual(["bootstrap-run fill"]);
    expect(told).toEqual([
      expect.stringMatching(
        /^embedding-model shop: cannot list horizontalpodautoscalers\.autoscaling in namespace ns/,
      ),
    ]);
    for (const controller of [runs, models]) await controller.stop();
    await cache.stop();
  });

  it("counts a type read without a watch, and gives a reconcile no read of a type it does not declare", async () => {
    const { client, metrics, cache } = refusingAutoscalers();
    // The Job informer exists (another controller owns Jobs), but this controller does not declare it.
    cache.use(resourceTypes.job, { managedOnly: true });
    const failures: unknown[] = [];
    const runs = new Controller(
      {
        name: "bootstrap-run",
        primary: resourceTypes.bootstrapRun,
        reconcile: async (context) => {
          try {
            context.cache.list(resourceTypes.job, { namespace: "ns" });
          } catch (error) {
            failures.push(error);
          }
        },
      },
      { client, cache, metrics, log: silentLogger() },
    );
    // Reads autoscalers without being woken by them: their refused list still holds it back.
    const told: string[] = [];
    const pipelines = new Controller(
      {
        name: "nearline-pipeline",
        primary: resourceTypes.nearlinePipeline,
        reads: [{ type: resourceTypes.horizontalPodAutoscaler, managedOnly: true }],
        reconcile: async () => void told.push("reconciled"),
        reportNotSynced: async (_, cause) => void told.push(cause),
      },
      { client, cache, metrics, log: silentLogger() },
    );
    await cache.start();
    for (const controller of [runs, pipelines]) controller.start(new AbortController().signal);
    runs.queue.add("ns/fill");
    pipelines.queue.add("ns/feed");
    await drained(runs);
    await drained(pipelines);
    expect(String(failures[0])).toMatch(/jobs\.batch is not declared by the bootstrap-run controller/);
    expect(told).toEqual([expect.stringMatching(/^cannot list horizontalpodautoscalers\.autoscaling/)]);
    for (const controller of [runs, pipelines]) await controller.stop();
    await cache.stop();
  });

  it("drops the key of an object deleted while it waits, instead of waiting for ever", async () => {
    const { client, metrics, cache } = refusingAutoscalers();
    const told: string[] = [];
    const models = new Controller(
      {
        name: "embedding-model",
        primary: resourceTypes.embeddingModel,
        owns: [resourceTypes.horizontalPodAutoscaler],
        reconcile: async () => void told.push("reconciled"),
        reportNotSynced: async (context, cause) => void told.push(`${context.key.name}: ${cause}`),
      },
      { client, cache, metrics, log: silentLogger() },
    );
    await cache.start();
    models.start(new AbortController().signal);
    models.queue.add("ns/gone");
    await drained(models);
    // The cached shop waits (told why); gone, which the models' informer no longer holds, is dropped.
    expect(told).toEqual([expect.stringMatching(/^shop: cannot list horizontalpodautoscalers/)]);
    const deferred = (await metrics.registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values
      .filter((value) => value.labels.result === "deferred")
      .reduce((sum, value) => sum + value.value, 0);
    expect(deferred).toBe(1);
    await models.stop();
    await cache.stop();
  });

  it("asks the API server whether it exists when the list of its own type is refused", async () => {
    const { metrics, cache, client } = refusingAutoscalers(resourceTypes.embeddingModel);
    const asked: string[] = [];
    const withGet = Object.assign(Object.create(client) as KubeClient, {
      get: async (path: string) => {
        asked.push(path);
        return path.endsWith("/shop") ? { metadata: { namespace: "ns", name: "shop" } } : undefined;
      },
    });
    const told: string[] = [];
    const models = new Controller(
      {
        name: "embedding-model",
        primary: resourceTypes.embeddingModel,
        reconcile: async () => void told.push("reconciled"),
        reportNotSynced: async (context) => void told.push(context.key.name),
      },
      { client: withGet, cache, metrics, log: silentLogger() },
    );
    await cache.start();
    models.start(new AbortController().signal);
    models.queue.add("ns/gone");
    models.queue.add("ns/shop");
    await drained(models);
    expect(asked).toEqual([
      "/apis/jude.dev/v1alpha1/namespaces/ns/embeddingmodels/gone",
      "/apis/jude.dev/v1alpha1/namespaces/ns/embeddingmodels/shop",
    ]);
    expect(told).toEqual(["shop"]);
    await models.stop();
    await cache.stop();
  });
});

describe("controller: a key waiting while the list of its own type is refused", () => {
  /**
   * The model shop in namespace ns, whose list of EmbeddingModels is refused (403): the cache still
   * holds shop as it last saw it, and only a GET says whether it exists. `synced` is what the cache
   * calls once an informer follows the cluster again.
   */
  function refusedOwnList() {
    const state = {
      unsynced: [
        {
          resource: "embeddingmodels.jude.dev",
          namespaced: true,
          namespace: "ns",
          error: new KubeApiError(
            403,
            "GET /apis/jude.dev/v1alpha1/namespaces/ns/embeddingmodels: 403 refused",
          ),
        },
      ] as Unsynced[],
      exists: true,
      gets: 0,
      told: 0,
      reconciled: 0,
      synced: undefined as ((resource: string, namespace: string | undefined) => void) | undefined,
    };
    const cache = {
      use: () => undefined,
      onRefused: () => undefined,
      onSynced: (listener: typeof state.synced) => void (state.synced = listener),
      get: () => modelAt("1", undefined),
      list: () => [],
      unsyncedIn: () => state.unsynced,
    } as unknown as InformerCache;
    const client = {
      get: async () => {
        state.gets += 1;
        return state.exists ? modelAt("1", undefined) : undefined;
      },
    } as unknown as KubeClient;
    const controller = new Controller(
      {
        name: "embedding-model",
        primary: resourceTypes.embeddingModel,
        reconcile: async () => void (state.reconciled += 1),
        reportNotSynced: async () => void (state.told += 1),
      },
      { client, cache, metrics: createOperatorMetrics(), log: silentLogger() },
    );
    return { controller, state };
  }

  /** Moves the fake clocks on by `ms`, a second at a time, letting each retry's reconcile finish. */
  async function passes(ms: number): Promise<void> {
    for (let elapsed = 0; elapsed < ms; elapsed += 1000) await vi.advanceTimersByTimeAsync(1000);
  }

  /**
   * On fake clocks: starts the controller with ns/shop queued, lets an hour pass while its list is
   * refused, then runs `then` on the fakes' state and shuts the queue down.
   */
  async function afterAnHourWaiting(
    then: (state: ReturnType<typeof refusedOwnList>["state"]) => Promise<void>,
  ): Promise<void> {
    vi.useFakeTimers();
    try {
      const { controller, state } = refusedOwnList();
      controller.start(new AbortController().signal);
      controller.queue.add("ns/shop");
      await passes(60 * 60_000);
      await then(state);
      controller.queue.shutDown();
    } finally {
      vi.useRealTimers();
    }
  }

  it("asks the API server whether it exists less and less often, and still notices its deletion", async () => {
    await afterAnHourWaiting(async (state) => {
      // Every 10 s would be 360 GETs an hour per waiting object, for as long as the refusal lasts.
      expect(state.gets).toBeLessThan(20);
      const firstHour = state.gets;
      await passes(60 * 60_000);
      expect(state.gets - firstHour).toBeGreaterThan(0);
      expect(state.gets - firstHour).toBeLessThanOrEqual(12);
      expect(state.told).toBe(1);
      // Deleted meanwhile: noticed at its next check, then never asked about again.
      state.exists = false;
      await passes(10 * 60_000);
      const dropped = state.gets;
      await passes(60 * 60_000);
      expect(state.gets).toBe(dropped);
      expect(state.reconciled).toBe(0);
    });
  });

  it("is reconciled as soon as the list is allowed again, not at its backed-off retry", async () => {
    await afterAnHourWaiting(async (state) => {
      // The informer lists and watches again; its list brings no change of shop, so no event queues it.
      state.unsynced = [];
      state.synced?.("embeddingmodels.jude.dev", "ns");
      await vi.advanceTimersByTimeAsync(0);
      expect(state.reconciled).toBe(1);
    });
  });
});

describe("controller: a key waiting for a list that fails for another reason than a refusal", () => {
  it("is told once it waited --reconcile-error-after-seconds, not at a later backed-off retry", async () => {
    vi.useFakeTimers();
    try {
      const told: number[] = [];
      const startedMs = Date.now();
      const cache = modelCache(() => [refusedDeployments(500)]);
      const controller = new Controller(
        {
          name: "embedding-model",
          primary: resourceTypes.embeddingModel,
          reconcile: async () => undefined,
          reportNotSynced: async () => void told.push(Date.now() - startedMs),
        },
        {
          client: {} as KubeClient,
          cache,
          metrics: createOperatorMetrics(),
          log: silentLogger(),
          failurePolicy: { afterMs: 3 * 60_000, minFailures: 3 },
        },
      );
      controller.start(new AbortController().signal);
      controller.queue.add("ns/shop");
      // The retries back off (10 s, 20 s, 40 s, 80 s, ...), but the one the report is due at is not skipped.
      for (let elapsed = 0; elapsed < 3 * 60_000 + 10_000; elapsed += 1000)
        await vi.advanceTimersByTimeAsync(1000);
      expect(told).toHaveLength(1);
      expect(told[0]).toBeGreaterThanOrEqual(3 * 60_000);
      controller.queue.shutDown();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("controller: a key whose reconciles fail", () => {
  // Was: nothing was reported until the failure policy's time had passed (60 s by default), so the
  // object's status said what the last successful reconcile wrote, as if nothing failed.
  it("reports the first failure at once, then nothing until the streak is persistent", async () => {
    vi.useFakeTimers();
    try {
      const reports: { atMs: number; failures: number; persistent: boolean }[] = [];
      const startedMs = Date.now();
      const cache = modelCache();
      const controller = new Controller(
        {
          name: "embedding-model",
          primary: resourceTypes.embeddingModel,
          reconcile: async () => {
            throw new Error("store unreachable");
          },
          reportFailure: async (_context, failure) =>
            void reports.push({
              atMs: Date.now() - startedMs,
              failures: failure.failures,
              persistent: failure.persistent,
            }),
        },
        {
          client: { statusWriteUnseenFor: () => undefined } as unknown as KubeClient,
          cache,
          metrics: createOperatorMetrics(),
          log: silentLogger(),
          failurePolicy: { afterMs: 60_000, minFailures: 3 },
        },
      );
      controller.start(new AbortController().signal);
      controller.queue.add("ns/shop");
      await vi.advanceTimersByTimeAsync(0);
      expect(reports).toEqual([{ atMs: 0, failures: 1, persistent: false }]);
      for (let elapsed = 0; elapsed < 90_000; elapsed += 1000) await vi.advanceTimersByTimeAsync(1000);
      expect(reports.map((report) => report.persistent)).toEqual([false, true]);
      expect(reports[1]!.atMs).toBeGreaterThanOrEqual(60_000);
      controller.queue.shutDown();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("controller: a key whose reconcile wrote its status and then failed", () => {
  // Was: the first failure was reported at once from the cache, which does not show the status the
  // reconcile had just written (a BootstrapRun's captured watermarks, written before its Job is
  // applied): the report's status apply, by the same field manager, dropped those fields again.
  it("does not report the first failure over a status write the cache does not show yet", async () => {
    const reports: number[] = [];
    const cache = modelCache();
    const client = {
      apply: async (_path: string, object: KubeObject) => ({
        ...object,
        metadata: { ...object.metadata, resourceVersion: "2" },
      }),
    } as unknown as KubeClient;
    const controller = new Controller(
      {
        name: "embedding-model",
        primary: resourceTypes.embeddingModel,
        reconcile: async (context) => {
          const model = context.cache.get(resourceTypes.embeddingModel, context.key)!;
          await context.client.applyStatus({ ...model, status: { phase: "Started" } });
          throw new Error("the Job's apply failed");
        },
        reportFailure: async (_context, failure) => void reports.push(failure.failures),
      },
      {
        client,
        cache,
        metrics: createOperatorMetrics(),
        log: silentLogger(),
        failurePolicy: { afterMs: 60_000, minFailures: 3 },
      },
    );
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await vi.waitFor(() => expect(controller.queue.failures("ns/shop")).toBe(1));
    expect(reports).toEqual([]);
    controller.queue.shutDown();
  });
});

describe("controller: a key whose reconcile found its owner deleted under it", () => {
  // The cache lagged a `--cascade=orphan` delete; the deletion's own event reconciles the key again.
  it("is not reported, retried or counted as an error", async () => {
    const reports: unknown[] = [];
    const metrics = createOperatorMetrics();
    let reconciles = 0;
    const controller = new Controller(
      {
        name: "embedding-model",
        primary: resourceTypes.embeddingModel,
        reconcile: async () => {
          reconciles += 1;
          throw new OwnerDeleted("ConfigMap ns/c not adopted: EmbeddingModel shop is being deleted");
        },
        reportFailure: async (_context, failure) => void reports.push(failure),
      },
      {
        client: { statusWriteUnseenFor: () => undefined } as unknown as KubeClient,
        cache: modelCache(),
        metrics,
        log: silentLogger(),
      },
    );
    controller.start(new AbortController().signal);
    controller.queue.add("ns/shop");
    await drained(controller);
    expect(reconciles).toBe(1);
    expect(reports).toEqual([]);
    expect(controller.queue.failures("ns/shop")).toBe(0);
    const counted = (await metrics.registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values;
    expect(counted?.map((value) => [value.labels.result, value.value])).toEqual([["success", 1]]);
    controller.queue.shutDown();
  });
});

// The dashboard's live data: informers (list, then watch; relist on 410 Gone, restart with back-off on
// errors — the operator's own runtime) on the three JUDE kinds and on Events, folded into one page
// state that is pushed to every subscriber when something changed. Bursts of watch events (a
// reconcile writes several objects) are coalesced into one push.
import type { KubeConfig } from "@kubernetes/client-node";
import { parseVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import { labelKeys } from "../../../controllers/shared/labels.ts";
import type { BootstrapRun, EmbeddingModel, NearlinePipeline } from "../../../crds/index.ts";
import { Informer } from "../../../operator/runtime/informer.ts";
import { KubeClient } from "../../../operator/runtime/kube-client.ts";
import { apiListWatcher } from "../../../operator/runtime/list-watcher.ts";
import { resourceTypes, type ResourceType } from "../../../operator/runtime/resource-types.ts";
import type { KubeObject } from "../../../operator/runtime/types.ts";
import type { Logger } from "../../../plumbing/logger.ts";
import { hasStatus } from "../../../operator/runtime/api-error.ts";
import { accessDenied } from "../cluster.ts";
import { ApiHealth, trackedListWatcher } from "./api-health.ts";
import { recheckPeriodically, type ActionPermissions, type ModelRef } from "./permissions.ts";
import { ThroughputTracker } from "./throughput.ts";
import type { KubeEvent } from "./timeline.ts";
import { dashboardView, throughputKey, type DashboardState, type OwnedVersionRecord } from "./view-model.ts";

export type StateListener = (state: DashboardState) => void;

export interface WatchHubOptions {
  config: KubeConfig;
  /** The namespace to watch; undefined watches all namespaces. */
  namespace?: string;
  log: Logger;
  /** How long to gather a burst of watch events before pushing (default 100 ms). */
  coalesceMs?: number;
  /**
   * How often throughput is looked at again without a watch event (default 5 s): an idle pipeline's
   * status does not change, so only the clock tells the page its rate fell.
   */
  rateCheckMs?: number;
  now?: () => number;
  /** The kubeconfig's user as refusals name it (a 403 on Events or version records names it). */
  user?: string;
  /** Whether the user may change the models of a namespace: else the page disables the actions. */
  permissions?: ActionPermissions;
  /** How often the permissions are asked again while a page is open (default 30 s). */
  permissionsRecheckMs?: number;
}

/** Keeps the page state current from watches and tells listeners when it changed. */
export class WatchHub {
  readonly #options: WatchHubOptions;
  readonly #informers: Record<
    "models" | "pipelines" | "bootstrapRuns" | "events" | "versionRecords",
    Informer
  >;
  readonly #listeners = new Set<StateListener>();
  readonly #throughput = new ThroughputTracker();
  readonly #health = new ApiHealth();
  /** Whether the version records can be read: without them the page cannot offer a rollback. */
  readonly #recordsHealth = new ApiHealth();
  /** Whether Events can be read: without them the timeline shows condition transitions only. */
  readonly #eventsHealth = new ApiHealth();
  readonly #now: () => number;
  #state: DashboardState | undefined;
  #pending: NodeJS.Timeout | undefined;
  #rateCheck: NodeJS.Timeout | undefined;
  #stopRecheck: (() => void) | undefined;
  #stopAnswers: (() => void) | undefined;
  /** Open pages (event streams). */
  #pages = 0;
  /** The throughput figures of the last computed state, to tell when the clock changed them. */
  readonly #shownRates = new Map<string, number | undefined>();

  constructor(options: WatchHubOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const client = new KubeClient(options.config);
    const informer = (
      type: ResourceType,
      name: string,
      options_: { labelSelector?: string; health?: ApiHealth; kind?: string } = {},
    ): Informer => {
      // A 403 names the user, the permission (a Role may grant list but not watch) and the role that
      // grants it, as the plugin's refusals do.
      const describe = (error: unknown, verb: "list" | "watch"): unknown =>
        options_.kind !== undefined && hasStatus(error, 403)
          ? accessDenied({
              verb,
              kind: options_.kind,
              namespace: options.namespace,
              user: options.user ?? "the current user",
            })
          : error;
      const listWatcher = apiListWatcher(client, type, {
        ...(options.namespace !== undefined && { namespace: options.namespace }),
        ...(options_.labelSelector !== undefined && { labelSelector: options_.labelSelector }),
      });
      return new Informer({
        name,
        listWatcher:
          options_.health === undefined
            ? listWatcher
            : trackedListWatcher(
                listWatcher,
                name,
                options_.health,
                () => this.#schedule(),
                this.#now,
                describe,
              ),
        log: options.log,
      });
    };
    // The JUDE kinds tell the page whether the API server answers; Events and version records do not
    // (a user who may not read them gets the page without timeline or rollback, not an outage; the
    // rollback button then says the records cannot be read, not that the operator kept none).
    this.#informers = {
      models: informer(resourceTypes.embeddingModel, "embeddingmodels.jude.dev", { health: this.#health }),
      pipelines: informer(resourceTypes.nearlinePipeline, "nearlinepipelines.jude.dev", {
        health: this.#health,
      }),
      bootstrapRuns: informer(resourceTypes.bootstrapRun, "bootstrapruns.jude.dev", { health: this.#health }),
      events: informer(resourceTypes.event, "events", { health: this.#eventsHealth, kind: "Event" }),
      // The operator's record of each version (model, prompts): what a rollback restores.
      versionRecords: informer(resourceTypes.configMap, "configmaps", {
        labelSelector: `${labelKeys.name}=jude,${labelKeys.component}=version-record`,
        health: this.#recordsHealth,
        kind: "ConfigMap",
      }),
    };
    for (const [name, each] of Object.entries(this.#informers))
      each.on((_type, object) => {
        if (name === "events" && !isJudeEvent(object as unknown as KubeEvent)) return;
        if (name === "pipelines") this.#recordThroughput(object as unknown as NearlinePipeline);
        this.#schedule();
      });
  }

  /**
   * Starts every watch and resolves once the JUDE kinds are listed. Events and version records arrive
   * when they do: a user who may not read them still gets the page, without timeline or rollback.
   */
  async start(): Promise<void> {
    for (const each of Object.values(this.#informers)) each.start();
    const { models, pipelines, bootstrapRuns } = this.#informers;
    await Promise.all([models, pipelines, bootstrapRuns].map((each) => each.waitForSync()));
    // The first page already knows whether its buttons can work (unless the review is slow to answer:
    // the page then starts with them enabled and is pushed the answer).
    // Each answer is pushed as it comes ("checking permission…" ends then), whichever refresh asked it.
    this.#stopAnswers = this.#options.permissions?.onAnswer(() => this.#schedule());
    const permissions = this.#options.permissions?.refresh(this.#models());
    if (permissions !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 5_000);
      });
      const answered = await Promise.race([permissions.then(() => true), slow]);
      clearTimeout(timer);
      if (!answered)
        void permissions.then((changed) => {
          if (changed) this.#schedule();
        });
    }
    this.#state = this.#compute();
    // A right granted (or revoked) while a page is open shows within a period, without a reload.
    if (this.#options.permissions !== undefined)
      this.#stopRecheck = recheckPeriodically({
        permissions: this.#options.permissions,
        models: () => this.#models(),
        wanted: () => this.#pages > 0,
        changed: () => this.#schedule(),
        ...(this.#options.permissionsRecheckMs !== undefined && {
          everyMs: this.#options.permissionsRecheckMs,
        }),
      });
    this.#rateCheck = setInterval(() => this.#checkRates(), this.#options.rateCheckMs ?? 5_000);
    this.#rateCheck.unref();
  }

  /** The current page state (computed at once when a push is pending). */
  state(): DashboardState {
    return (this.#state ??= this.#compute());
  }

  /**
   * Asks again whether the user may change the models (a page was loaded): for each namespace shown
   * whose answer is older than the permissions' TTL; pushes a new state when an answer changed.
   */
  refreshPermissions(): void {
    void this.#options.permissions?.refresh(this.#models()).then((changed) => {
      if (changed) this.#schedule();
    });
  }

  /**
   * The API server refused an action in `namespace` (403): the right may have been revoked since it was
   * last asked, so it is asked again now and the page pushed the answer (its buttons disabled).
   */
  recheckPermissions(namespace: string): void {
    this.#options.permissions?.forget(namespace);
    this.refreshPermissions();
    // The page shows at once that whether its buttons can work is being checked again.
    if (this.#options.permissions !== undefined) this.#schedule();
  }

  /** The models the page shows: whether their actions can work is what the permissions ask. */
  #models(): ModelRef[] {
    return this.#informers.models.list().map((model) => {
      const metadata = (model as { metadata?: { namespace?: string; name?: string } }).metadata;
      return {
        namespace: metadata?.namespace ?? this.#options.namespace ?? "default",
        name: metadata?.name ?? "",
      };
    });
  }

  /**
   * Subscribes to state changes (`page`: an open page's stream, while which the permissions are asked
   * again periodically); returns the unsubscribe function.
   */
  subscribe(listener: StateListener, page = false): () => void {
    this.#listeners.add(listener);
    if (page) this.#pages++;
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.#listeners.delete(listener);
      if (page) this.#pages--;
    };
  }

  async stop(): Promise<void> {
    clearTimeout(this.#pending);
    clearInterval(this.#rateCheck);
    this.#stopRecheck?.();
    this.#stopAnswers?.();
    await Promise.all(Object.values(this.#informers).map((each) => each.stop()));
  }

  #recordThroughput(pipeline: NearlinePipeline): void {
    const namespace = pipeline.metadata.namespace ?? "default";
    for (const version of pipeline.status?.versions ?? [])
      if (version.processed !== undefined)
        this.#throughput.record(
          throughputKey(namespace, pipeline.metadata.name, version.version),
          version.processed,
          this.#now(),
        );
  }

  /** Pushes a new state when time alone changed a throughput figure (a pipeline went quiet). */
  #checkRates(): void {
    const now = this.#now();
    for (const [key, shown] of this.#shownRates)
      if (this.#throughput.rate(key, now) !== shown) return this.#schedule();
  }

  #schedule(): void {
    if (this.#pending !== undefined) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      this.#state = this.#compute();
      for (const listener of this.#listeners) listener(this.#state);
    }, this.#options.coalesceMs ?? 100);
  }

  #compute(): DashboardState {
    const now = this.#now();
    this.#shownRates.clear();
    const apiServer = this.#health.problem();
    const versionRecordsProblem = this.#recordsHealth.problem()?.message;
    // While the API server does not answer the page says so already: Events are not singled out.
    const eventsProblem = apiServer === undefined ? this.#eventsHealth.problem()?.message : undefined;
    const permissions = this.#options.permissions;
    // A namespace never asked about (a model appeared in another one): asked now, pushed when answered.
    if (
      permissions !== undefined &&
      this.#models().some((model) => permissions.unknown(model.namespace, model.name))
    )
      void permissions.refresh(this.#models(), true).then((changed) => {
        if (changed) this.#schedule();
      });
    return dashboardView(
      {
        models: this.#informers.models.list() as unknown as EmbeddingModel[],
        pipelines: this.#informers.pipelines.list() as unknown as NearlinePipeline[],
        bootstrapRuns: this.#informers.bootstrapRuns.list() as unknown as BootstrapRun[],
        events: (this.#informers.events.list() as unknown as KubeEvent[]).filter(isJudeEvent),
        versionRecords: this.#informers.versionRecords.list().flatMap(ownedRecord),
      },
      {
        ...(this.#options.namespace !== undefined && { namespace: this.#options.namespace }),
        ...(apiServer !== undefined && { apiServer }),
        ...(versionRecordsProblem !== undefined && { versionRecordsProblem }),
        ...(eventsProblem !== undefined && { eventsProblem }),
        ...(permissions !== undefined && {
          actionsDenied: (namespace: string, name: string) => permissions.denied(namespace, name),
          actionsUnchecked: (namespace: string, name: string) => permissions.unchecked(namespace, name),
          actionsChecking: (namespace: string, name: string) => permissions.checking(namespace, name),
        }),
        now: new Date(now),
        throughput: (key) => {
          const rate = this.#throughput.rate(key, now);
          this.#shownRates.set(key, rate);
          return rate;
        },
      },
    );
  }
}

/** Events recorded on a JUDE object (the only ones the timeline shows). */
function isJudeEvent(event: KubeEvent): boolean {
  return event.involvedObject?.apiVersion?.startsWith("jude.dev/") === true;
}

/** A version record ConfigMap with the model that owns it; nothing for one that does not parse. */
function ownedRecord(configMap: KubeObject): OwnedVersionRecord[] {
  const record = parseVersionRecord(configMap as Parameters<typeof parseVersionRecord>[0]);
  const owner = configMap.metadata?.ownerReferences?.find((reference) => reference.kind === "EmbeddingModel");
  if (record === undefined || owner === undefined) return [];
  return [{ namespace: configMap.metadata?.namespace ?? "default", model: owner.name, record }];
}

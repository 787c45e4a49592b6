// The shared informers of all controllers: one informer per resource type (per namespace when the
// watch scope is a list of namespaces), created on first use, read through CacheReader. Children's
// informers hold only objects labelled app.kubernetes.io/managed-by=jude-operator, which keeps memory
// proportional to what the operator owns rather than to the cluster.
import type { Logger } from "../../plumbing/logger.ts";
import { managedBy, labelKeys } from "../../controllers/shared/labels.ts";
import { cacheTransforms } from "./cache-transforms.ts";
import { isRefused } from "./api-error.ts";
import { Informer, type InformerHandler } from "./informer.ts";
import type { KubeClient } from "./kube-client.ts";
import { apiListWatcher } from "./list-watcher.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { keyToString } from "./object-key.ts";
import { readinessText } from "./readiness-text.ts";
import { resourceName, type ResourceType } from "./resource-types.ts";
import type { CacheReader, KubeObject, ObjectKey } from "./types.ts";

/** The label selector of informers that only need objects the operator made. */
export const managedSelector = `${labelKeys.managedBy}=${managedBy}`;

/**
 * An informer that has not listed yet, or whose list or watch the API server now refuses for
 * permissions, so that its cache no longer follows the cluster (InformerCache.unsyncedIn).
 */
export interface Unsynced {
  /** plural.group, as RBAC rules and kubectl name it (`deployments.apps`). */
  resource: string;
  namespaced: boolean;
  /** The namespace it lists; undefined when it lists all namespaces (or the type is cluster-scoped). */
  namespace: string | undefined;
  /** Its last list (or refused watch) error; undefined before its first try. */
  error: unknown;
}

/**
 * Why a reconcile in a namespace waits, as one bounded line without credentials (readinessText) for a
 * condition or an Event: the first informer that could not list — which resource, where and the API
 * server's answer — and how many others; `forbidden` when every one of them was refused for
 * permissions (403: the operator's RBAC, which no retry fixes; a 401 is credentials not accepted, such
 * as a token being rotated, which a retry may fix). Undefined while none has tried yet.
 */
export function describeUnsynced(
  unsynced: readonly Unsynced[],
): { message: string; forbidden: boolean } | undefined {
  const failed = unsynced.filter((entry) => entry.error !== undefined);
  const [first] = failed;
  if (first === undefined) return undefined;
  const forbidden = failed.every((entry) => isRefused(entry.error));
  const where =
    first.namespace !== undefined
      ? ` in namespace ${first.namespace}`
      : first.namespaced
        ? " in all namespaces"
        : "";
  const hint = forbidden
    ? ", which the operator's RBAC does not allow (see the rules of the chart's templates/rbac.yaml)"
    : "";
  const others = failed.length > 1 ? ` (and ${failed.length - 1} more resource lists)` : "";
  return {
    message: `cannot list ${first.resource}${where}${hint}${others}: ${readinessText(first.error)}`,
    forbidden,
  };
}

interface Registration {
  type: ResourceType;
  /** True while every user of this type only needs operator-managed objects. */
  managedOnly: boolean;
  handlers: InformerHandler[];
  informers: Informer[];
}

/** Informers by resource type; register every use before start(). */
export class InformerCache implements CacheReader {
  readonly #registrations = new Map<string, Registration>();
  readonly #client: KubeClient;
  readonly #namespaces: readonly string[] | undefined;
  readonly #log: Logger;
  readonly #metrics: OperatorMetrics;
  readonly #watchTimeoutSeconds: number | undefined;
  readonly #refusedListeners: ((resource: string, namespace: string | undefined) => void)[] = [];
  readonly #syncedListeners: ((resource: string, namespace: string | undefined) => void)[] = [];
  #started = false;

  /** `namespaces` undefined watches all namespaces. */
  constructor(options: {
    client: KubeClient;
    namespaces?: readonly string[];
    log: Logger;
    metrics: OperatorMetrics;
    /** Each informer's server-side watch timeout, at least (Informer's default when absent). */
    watchTimeoutSeconds?: number;
  }) {
    this.#client = options.client;
    this.#namespaces = options.namespaces;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds;
  }

  /** Declares that a type is read (and optionally watched by `handler`); before start() only. */
  use(type: ResourceType, options: { managedOnly: boolean; handler?: InformerHandler }): void {
    if (this.#started) throw new Error(`informer for ${resourceName(type)} registered after start`);
    const name = resourceName(type);
    const registration = this.#registrations.get(name) ?? {
      type,
      managedOnly: true,
      handlers: [],
      informers: [],
    };
    registration.managedOnly &&= options.managedOnly;
    if (options.handler !== undefined) registration.handlers.push(options.handler);
    this.#registrations.set(name, registration);
  }

  /**
   * Calls `listener` when a synced informer's list or watch is refused (the operator's RBAC was narrowed
   * after it listed): the resource and the namespace it lists (undefined: all, or cluster-scoped). The
   * objects whose reconciles read it are to be told they wait; before start() only.
   */
  onRefused(listener: (resource: string, namespace: string | undefined) => void): void {
    if (this.#started) throw new Error("onRefused registered after start");
    this.#refusedListeners.push(listener);
  }

  /**
   * Calls `listener` each time an informer's cache follows the cluster again: its first list, or a watch
   * connecting after a refusal. The resource and the namespace it lists (undefined: all, or
   * cluster-scoped): what waited for it can be looked at now. Before start() only.
   */
  onSynced(listener: (resource: string, namespace: string | undefined) => void): void {
    if (this.#started) throw new Error("onSynced registered after start");
    this.#syncedListeners.push(listener);
  }

  /**
   * Starts every informer and waits until each has tried its first list. One that could not list
   * (RBAC forbids it in one watched namespace) does not hold the others back: the objects of its
   * namespace whose controller reads that type are not reconciled until it has listed (syncedIn),
   * /readyz names it, and it keeps retrying with back-off.
   */
  async start(): Promise<void> {
    this.#started = true;
    this.#metrics.watchAges.refresh = this.#refreshWatchAges;
    for (const registration of this.#registrations.values()) {
      const name = resourceName(registration.type);
      const scopes =
        registration.type.namespaced && this.#namespaces !== undefined ? this.#namespaces : [undefined];
      for (const namespace of scopes) {
        const informer = new Informer({
          name: namespace === undefined ? name : `${name}/${namespace}`,
          listWatcher: apiListWatcher(this.#client, registration.type, {
            namespace,
            labelSelector: registration.managedOnly ? managedSelector : undefined,
          }),
          log: this.#log,
          ...(this.#watchTimeoutSeconds !== undefined
            ? { watchTimeoutSeconds: this.#watchTimeoutSeconds }
            : {}),
          ...(cacheTransforms[name] !== undefined ? { transform: cacheTransforms[name] } : {}),
          onRestart: (reason) => this.#metrics.watchRestarts.inc({ resource: name, reason }),
          onRefused: () => this.#refusedListeners.forEach((listener) => listener(name, namespace)),
          onSynced: () => this.#syncedListeners.forEach((listener) => listener(name, namespace)),
        });
        for (const handler of registration.handlers) informer.on(handler);
        registration.informers.push(informer);
        informer.start();
      }
    }
    await Promise.all(this.#informers().map((informer) => informer.waitForFirstList()));
    for (const informer of this.#informers()) {
      if (informer.synced) continue;
      this.#log.error(
        { informer: informer.name, err: informer.syncError },
        "cannot list this resource; the objects it covers are not reconciled until it can (retrying with back-off)",
      );
    }
  }

  /**
   * Whether every informer of `types` (what one controller's reconcile reads) that a reconcile in
   * `namespace` may read from has listed once and is not refused since: the namespace's own (when
   * watching a list of namespaces) and those of all namespaces or cluster-scoped types.
   */
  syncedIn(namespace: string, types: readonly ResourceType[]): boolean {
    return this.unsyncedIn(namespace, types).length === 0;
  }

  /**
   * The informers of `types` a reconcile in `namespace` may read from that have not listed yet, or
   * whose list or watch is now refused for permissions (a cache that no longer follows the cluster
   * is not trusted until it has listed again), and why: the resource, the namespace the informer lists (undefined: all namespaces, or a cluster-scoped
   * type) and its last list error (undefined before its first try). Only the types asked about: the
   * cache is shared, and a list refused for a type one controller reads must not hold back another
   * controller that never reads it (a BootstrapRun is not kept waiting by a refused autoscaler list).
   */
  unsyncedIn(namespace: string, types: readonly ResourceType[]): Unsynced[] {
    const wanted = new Set(types.map(resourceName));
    return [...this.#registrations.entries()].flatMap(([name, registration]) => {
      if (!wanted.has(name)) return [];
      return registration.informers.flatMap((informer, index) => {
        if (informer.synced && !informer.refused) return [];
        // Informers of a namespaced type watched per namespace come in this.#namespaces' order.
        const scope =
          registration.type.namespaced && this.#namespaces !== undefined
            ? this.#namespaces[index]
            : undefined;
        if (scope !== undefined && scope !== namespace) return [];
        return [
          {
            resource: name,
            namespaced: registration.type.namespaced,
            namespace: scope,
            // Once synced, what makes it untrusted is the refusal, not a server error meanwhile.
            error: informer.synced ? (informer.refusal ?? informer.failure) : informer.failure,
          },
        ];
      });
    });
  }

  /** Stops every informer. */
  async stop(): Promise<void> {
    if (this.#metrics.watchAges.refresh === this.#refreshWatchAges)
      this.#metrics.watchAges.refresh = undefined;
    await Promise.all(this.#informers().map((informer) => informer.stop()));
  }

  /** Sets jude_operator_watch_last_event_age_seconds from the informers (at each scrape). */
  readonly #refreshWatchAges = (): void => {
    this.health();
  };

  /**
   * Per informer: synced, and seconds since its last successful list, connection or event; its
   * errors as /readyz may show them (readiness-text.ts: one bounded line, no credentials).
   */
  health(): {
    name: string;
    synced: boolean;
    syncError?: string;
    /** Why its last list or watch failed, while nothing succeeded since. */
    failure?: string;
    ageSeconds: number | undefined;
  }[] {
    return this.#informers().map((informer) => {
      const ageMs = informer.lastActivityAgeMs();
      const ageSeconds = ageMs === undefined ? undefined : ageMs / 1000;
      if (ageSeconds !== undefined)
        this.#metrics.watchActivityAge.set({ resource: informer.name }, ageSeconds);
      const error = informer.syncError;
      const failure = informer.failure;
      return {
        name: informer.name,
        synced: informer.synced,
        ...(error === undefined ? {} : { syncError: readinessText(error) }),
        ...(failure === undefined ? {} : { failure: readinessText(failure) }),
        ageSeconds,
      };
    });
  }

  /** What each informer lists: every object of its type, or operator-managed ones only (logged at start). */
  scopes(): { resource: string; managedOnly: boolean }[] {
    return [...this.#registrations.entries()].map(([resource, registration]) => ({
      resource,
      managedOnly: registration.managedOnly,
    }));
  }

  get<T extends KubeObject = KubeObject>(type: ResourceType, key: ObjectKey): T | undefined {
    const id = keyToString(type.namespaced ? key : { namespace: "", name: key.name });
    for (const informer of this.#registrationOf(type).informers) {
      const object = informer.get(id);
      if (object !== undefined) return object as T;
    }
    return undefined;
  }

  list<T extends KubeObject = KubeObject>(
    type: ResourceType,
    options: { namespace?: string; labels?: Record<string, string> } = {},
  ): T[] {
    const wanted = Object.entries(options.labels ?? {});
    // Each informer's index: a namespaced list reads only that namespace's objects with the rarest label
    // asked for, however many other namespaces and models hold (a reconcile lists several types, so a
    // scan of every cached object would make one resync of n models cost n²).
    return this.#registrationOf(type)
      .informers.flatMap((informer) => informer.list(options.namespace, options.labels))
      .filter(
        (object) =>
          (options.namespace === undefined || object.metadata?.namespace === options.namespace) &&
          wanted.every(([key, value]) => object.metadata?.labels?.[key] === value),
      ) as T[];
  }

  #registrationOf(type: ResourceType): Registration {
    const registration = this.#registrations.get(resourceName(type));
    if (registration === undefined)
      throw new Error(
        `${resourceName(type)} is not cached: declare it in a controller's primary, owns or watches`,
      );
    return registration;
  }

  #informers(): Informer[] {
    return [...this.#registrations.values()].flatMap((registration) => registration.informers);
  }
}

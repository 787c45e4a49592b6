// Runs one controller: maps informer events to keys (the primary's own, a child's controlling owner,
// or a mapper's), feeds its work queue and runs `concurrency` workers that reconcile distinct keys.
// Outcome of a reconcile: returned normally -> back-off forgotten; { requeueAfterMs } -> queued again
// after that delay; thrown -> queued again with per-key exponential back-off. A reconcile that needs
// the user to act (invalid spec, missing Secret) writes a Stalled condition and returns normally. A
// key that keeps throwing (failure-streaks.ts) is handed to the definition's reportFailure, which puts
// the cause in the object's conditions, and jude_operator_reconcile_failing is 1 for it until a
// reconcile succeeds (the chart's JudeReconcileFailing alert reads it). A write refused because the
// namespace is being deleted ends the reconcile as done: the object goes with its namespace, and its
// deletion is reconciled like any other (a retry could only be refused again, and was an error storm
// each time a namespace of models was deleted). A key of a namespace whose informers could not list
// (RBAC) waits for them; the definition's reportNotSynced says so on the object, once per cause, and
// the failing gauge is 1 for it as for a failing key. So
// does one of a namespace whose informer's list or watch was refused after it listed (the operator's
// RBAC narrowed while it runs): its cache no longer follows the cluster, and the primaries there are
// queued at once to say so; once allowed, the informer's fresh list queues what changed. A waiting
// key whose object is gone (deleted meanwhile) is dropped instead of waiting for ever. A waiting key
// is looked at again after a delay that backs off while its cause stays (each look may be a GET), and
// at once when an informer it waits for follows the cluster again (onSynced). Only
// the informers of the types the controller declares count (controller-reads.ts): the cache is shared
// by all controllers, and a list another controller needs is not this one's reason to wait.
import type { Logger } from "../../plumbing/logger.ts";
import { isNamespaceTerminating, isRefused } from "./api-error.ts";
import { createControllerClient, OwnerDeleted, type CachedControllerClient } from "./controller-client.ts";
import { declaredReader, readTypesOf } from "./controller-reads.ts";
import { createEventRecorder } from "./event-recorder.ts";
import { describeUnsynced, type InformerCache, type Unsynced } from "./informer-cache.ts";
import type { KubeClient } from "./kube-client.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { defaultFailurePolicy, FailureStreaks, type FailurePolicy } from "./failure-streaks.ts";
import { controllerOwnerKey, keyFromString, keyOf, keyToString } from "./object-key.ts";
import { backoffDelayMs, RetryRateLimiter, type RetryOptions } from "./rate-limiter.ts";
import { resourceName, type ResourceType } from "./resource-types.ts";
import { WorkQueue } from "./work-queue.ts";
import type {
  CacheReader,
  ControllerDefinition,
  EventRecorder,
  KubeObject,
  ObjectKey,
  ReconcileContext,
} from "./types.ts";

/**
 * How soon a key of a namespace whose informers have not listed yet is looked at again: at first, and
 * at most (the delay doubles at each retry that finds the same cause). Each retry may cost a GET (the
 * primary's own list refused: is the object gone?), and a refusal can last for days: N waiting objects
 * at a fixed 10 s would be N/10 requests a second against the API server. Recovery does not wait for
 * the delay: an informer that follows the cluster again queues the keys waiting for it (onSynced).
 */
const notSyncedRetryMs = { firstMs: 10_000, maxMs: 5 * 60_000 };

/** What a controller needs from the manager. */
export interface ControllerDependencies {
  client: KubeClient;
  cache: InformerCache;
  metrics: OperatorMetrics;
  log: Logger;
  /** Overall retry rate limit of the work queue, and the cap of a key's back-off. */
  retry?: RetryOptions;
  /** When failing reconciles are reported on the object (defaultFailurePolicy when absent). */
  failurePolicy?: FailurePolicy;
}

/** One running controller. */
export class Controller {
  readonly definition: ControllerDefinition;
  readonly queue: WorkQueue;
  readonly #dependencies: ControllerDependencies;
  readonly #log: Logger;
  readonly #client: CachedControllerClient;
  readonly #events: EventRecorder;
  readonly #streaks: FailureStreaks;
  /** What its reconciles read from the cache: the only informers its keys wait for. */
  readonly #reads: ResourceType[];
  /** The cache as its reconciles see it: the declared types only. */
  readonly #reader: CacheReader;
  /**
   * Keys waiting for their namespace's informers to list: since when, what was reported on which object
   * (uid|generation|cause), and the cause their retries back off for and how many retries found it.
   */
  readonly #waiting = new Map<
    string,
    { sinceMs: number; reported?: string; cause?: string; retries: number }
  >();
  #workers: Promise<void>[] = [];
  /** The signal given to start(): aborted when this replica lost the Lease or ran out of drain time. */
  #leading: AbortSignal | undefined;
  /** Throws unless this replica may still write as leader (the manager's, or the signal's check). */
  #fence: (() => void) | undefined;

  /** Creates the controller and registers its informers with the cache (call before cache.start()). */
  constructor(definition: ControllerDefinition, dependencies: ControllerDependencies) {
    this.definition = definition;
    this.#dependencies = dependencies;
    this.#log = dependencies.log.child({ controller: definition.name });
    const name = definition.name;
    const { metrics, cache } = dependencies;
    // Writes are fenced by the leadership signal: a reconcile that goes on after the Lease was lost
    // (it awaited something else, not its signal) fails at its next write instead of making it, a
    // write or live read waiting to be sent again after a 429 is not sent, and the Events it emits
    // meanwhile are dropped.
    this.#client = createControllerClient(
      dependencies.client,
      cache,
      name,
      () => this.#checkFence(),
      () => this.#leading,
    );
    this.#streaks = new FailureStreaks(dependencies.failurePolicy);
    this.#reads = readTypesOf(definition);
    this.#reader = declaredReader(cache, name, this.#reads);
    this.#events = createEventRecorder(dependencies.client, {
      component: `jude-operator/${name}`,
      fieldManager: this.#client.fieldManager,
      log: this.#log,
      fence: () => this.#checkFence(),
    });
    this.queue = new WorkQueue({
      rateLimiter: new RetryRateLimiter(dependencies.retry ?? {}),
      observer: {
        depth: (waiting) => metrics.queueDepth.set({ controller: name }, waiting),
        waited: (ms) => metrics.queueLatency.observe({ controller: name }, ms / 1000),
      },
    });
    const enqueue = (keys: (ObjectKey | undefined)[]): void => {
      for (const key of keys) if (key !== undefined) this.queue.add(keyToString(key));
    };
    cache.use(definition.primary, { managedOnly: false, handler: (_, object) => enqueue([keyOf(object)]) });
    // An update is mapped from the state before it too, as controller-runtime's handlers do: a child
    // whose owner reference was removed by hand names no owner any more, and a pipeline moved to
    // another model no longer names the one it left; each must still wake the object it concerned
    // (the owner puts its reference back, the model it left stops counting it).
    const ownerOf = (object: KubeObject | undefined) =>
      object === undefined
        ? undefined
        : controllerOwnerKey(object, definition.primary.group, definition.primary.kind);
    for (const owned of definition.owns ?? []) {
      cache.use(owned, {
        managedOnly: true,
        handler: (_, object, previous) => enqueue([ownerOf(object), ownerOf(previous)]),
      });
    }
    for (const watched of definition.watches ?? []) {
      cache.use(watched.type, {
        managedOnly: watched.managedOnly ?? false,
        handler: (_, object, previous) =>
          enqueue([
            ...watched.map(object, cache),
            ...(previous === undefined ? [] : watched.map(previous, cache)),
          ]),
      });
    }
    for (const read of definition.reads ?? [])
      cache.use(read.type, { managedOnly: read.managedOnly ?? false });
    // A list or watch of what it reads refused after it listed: its primaries there learn at once
    // that they wait (their next reconcile is deferred and says why), not at their next event.
    cache.onRefused((resource, namespace) => {
      if (!this.#reads.some((type) => resourceName(type) === resource)) return;
      enqueue(cache.list(definition.primary, namespace === undefined ? {} : { namespace }).map(keyOf));
    });
    // One follows the cluster again (listed, watching): the keys waiting for it are looked at now, not
    // at their backed-off retry; its list's events queue only the objects that changed meanwhile.
    cache.onSynced((resource, namespace) => {
      if (!this.#reads.some((type) => resourceName(type) === resource)) return;
      for (const key of this.#waiting.keys())
        if (namespace === undefined || keyFromString(key).namespace === namespace) this.queue.add(key);
    });
  }

  /**
   * Starts the workers; they run until stop(). `fence` throws once this replica may no longer write
   * as leader (by default: once `signal` aborted).
   */
  start(signal: AbortSignal, fence?: () => void): void {
    this.#leading = signal;
    this.#fence = fence;
    const concurrency = this.definition.concurrency ?? 4;
    this.#workers = Array.from({ length: concurrency }, () => this.#work(signal));
  }

  /** Stops handing out keys and waits for the reconciles in progress to finish. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.#workers);
  }

  #checkFence(): void {
    if (this.#fence !== undefined) this.#fence();
    else this.#leading?.throwIfAborted();
  }

  /** Releases what the definition keeps open across reconciles; after stop() (or its drain time). */
  async close(): Promise<void> {
    await this.definition.close?.();
  }

  async #work(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.#reconcile(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #reconcile(key: string, signal: AbortSignal): Promise<void> {
    const { name } = this.definition;
    const { metrics, cache } = this.#dependencies;
    const objectKey = keyFromString(key);
    const log = this.#log.child({ namespace: objectKey.namespace, name: objectKey.name });
    // Woken (by a child, a poll) before the watch brought this controller's last status write of the
    // object: a reconcile now would decide from the status that write replaced, announce its
    // transitions again and write conditions' times anew. The write's own watch event queues the key
    // again; the delayed add is for a watch that never brings it.
    // A namespace whose informers of what this controller reads could not list yet (RBAC forbids it):
    // the cache would show its children as missing. Wait for the list; the informer's adds queue its
    // objects once it succeeds.
    const unsynced = cache.unsyncedIn(objectKey.namespace, this.#reads);
    if (unsynced.length > 0) {
      if (await this.#gone(objectKey, unsynced)) {
        log.debug("deleted while its namespace's cache could not list; not waiting for it any more");
        this.#waiting.delete(key);
        this.queue.forget(key);
        metrics.reconcileFailing.remove(failingLabels(name, objectKey));
        return;
      }
      log.debug("the cache of this namespace has not listed yet; reconciling later");
      metrics.reconciles.inc({ controller: name, result: "deferred" });
      await this.#reportNotSynced(key, this.#context(objectKey, log, signal), unsynced);
      this.queue.addAfter(key, this.#notSyncedRetryMs(key, unsynced));
      return;
    }
    this.#waiting.delete(key);
    const unseenMs = this.#client.statusWriteUnseenFor(this.definition.primary, objectKey);
    if (unseenMs !== undefined) {
      log.debug(
        { waitMs: unseenMs },
        "the cache does not show the last status write yet; reconciling after it",
      );
      metrics.reconciles.inc({ controller: name, result: "deferred" });
      this.queue.addAfter(key, unseenMs);
      return;
    }
    const context = this.#context(objectKey, log, signal);
    const stopTimer = metrics.reconcileDuration.startTimer({ controller: name });
    try {
      const result = await this.definition.reconcile(context);
      this.#settled(key, objectKey);
      if (result?.requeueAfterMs !== undefined) {
        this.queue.addAfter(key, result.requeueAfterMs);
        metrics.reconciles.inc({ controller: name, result: "requeue" });
      } else {
        metrics.reconciles.inc({ controller: name, result: "success" });
      }
    } catch (error) {
      if (isNamespaceTerminating(error)) {
        log.debug({ err: error }, "namespace is being deleted; not retrying");
        this.#settled(key, objectKey);
        metrics.reconciles.inc({ controller: name, result: "success" });
        return;
      }
      if (error instanceof OwnerDeleted) {
        // The cache lags the owner's deletion; its watch event reconciles the key again (and finds it
        // gone or deleting), or the new object of that name does.
        log.debug({ err: error }, "owner deleted under this reconcile; not adopting its children");
        this.#settled(key, objectKey);
        metrics.reconciles.inc({ controller: name, result: "success" });
        return;
      }
      metrics.reconciles.inc({ controller: name, result: "error" });
      metrics.reconcileErrors.inc({ controller: name });
      if (signal.aborted) return;
      metrics.queueRetries.inc({ controller: name });
      log.warn(
        { err: error, failures: this.queue.failures(key) + 1 },
        "reconcile failed; retrying with back-off",
      );
      await this.#reportFailure(context, key, error);
      this.queue.addRateLimited(key);
    } finally {
      stopTimer();
    }
  }

  #context(key: ObjectKey, log: Logger, signal: AbortSignal): ReconcileContext {
    return {
      key,
      cache: this.#reader,
      client: this.#client,
      events: this.#events,
      log,
      signal,
      fence: () => this.#checkFence(),
    };
  }

  /**
   * Whether a waiting key's object no longer exists: as the primary's informer says where it follows
   * the cluster, else as a GET says (a GET refused or failed: not known to be gone, it keeps waiting).
   */
  async #gone(key: ObjectKey, unsynced: Unsynced[]): Promise<boolean> {
    const { primary } = this.definition;
    if (!unsynced.some((entry) => entry.resource === resourceName(primary)))
      return this.#dependencies.cache.get(primary, key) === undefined;
    try {
      return (await this.#client.getLive(primary, key)) === undefined;
    } catch {
      return false;
    }
  }

  /**
   * Hands why a key waits to the definition's reportNotSynced: once per cause (a retry that finds the
   * same cause writes nothing: no status churn, no repeated Event), at once when the lists were
   * refused for permissions, otherwise once the key has waited as long as a failing one before it is
   * reported (a list that fails once at start-up and then succeeds is not worth a Stalled object).
   */
  async #reportNotSynced(key: string, context: ReconcileContext, unsynced: Unsynced[]): Promise<void> {
    const nowMs = Date.now();
    const waiting = this.#waiting.get(key) ?? { sinceMs: nowMs, retries: 0 };
    this.#waiting.set(key, waiting);
    const report = this.definition.reportNotSynced;
    const cause = describeUnsynced(unsynced);
    if (report === undefined || cause === undefined) return;
    // What was said is about one object at one generation: said again once the spec changed (kstatus
    // reads Stalled only at the current observedGeneration) or the object was deleted and created again.
    const meta = this.#dependencies.cache.get(this.definition.primary, context.key)?.metadata;
    // The cause is which lists fail and whether for permissions, not the API server's wording: an
    // informer whose watch is refused and then the fresh list it tries instead is one cause, one Event.
    const reported = `${meta?.uid ?? ""}|${meta?.generation ?? ""}|${causeOf(unsynced)}`;
    if (waiting.reported === reported) return;
    const afterMs = (this.#dependencies.failurePolicy ?? defaultFailurePolicy).afterMs;
    if (!cause.forbidden && nowMs - waiting.sinceMs < afterMs) return;
    // Not reconciled at all is as stuck as failing on every try: the object says Stalled with reason
    // ReconcileError, so JudeReconcileFailing fires for it too (until it is reconciled or deleted).
    // Set before the object says so (whoever reads the one finds the other); one the definition says
    // the lists do not hold back (a finished BootstrapRun) is told nothing, and not counted.
    const labels = failingLabels(this.definition.name, context.key);
    this.#dependencies.metrics.reconcileFailing.set(labels, 1);
    context.log.warn(
      { cause: cause.message },
      "not reconciled until the cache can list; saying so on the object",
    );
    try {
      if ((await report(context, cause.message)) === false)
        this.#dependencies.metrics.reconcileFailing.remove(labels);
      waiting.reported = reported;
    } catch (error) {
      context.log.warn({ err: error }, "could not say on the object why it is not reconciled");
      // Refused for permissions (the operator may not write its status there either): each retry
      // would only be refused again, one request per object every few seconds. Said again when the
      // cause, the object or its generation changes.
      if (isRefused(error)) waiting.reported = reported;
    }
  }

  /**
   * When a waiting key is looked at again: notSyncedRetryMs.firstMs doubling up to its maxMs while the
   * cause stays the same, from the first again once it changed (another list refused, or allowed); no
   * later than when a cause not yet told is due to be told.
   */
  #notSyncedRetryMs(key: string, unsynced: Unsynced[]): number {
    const waiting = this.#waiting.get(key);
    if (waiting === undefined) return notSyncedRetryMs.firstMs;
    const cause = causeOf(unsynced);
    if (waiting.cause !== cause) {
      waiting.cause = cause;
      waiting.retries = 0;
    }
    // The count lives in #waiting (dropped with the key); only the doubling is shared with the queue's.
    const delayMs = backoffDelayMs(waiting.retries, notSyncedRetryMs.firstMs, notSyncedRetryMs.maxMs);
    waiting.retries += 1;
    // A cause other than a refusal is told once the key waited the failure policy's time: the retry
    // that tells it comes then, not up to a back-off later (--reconcile-error-after-seconds 180 would
    // say so at 310 s).
    const told = describeUnsynced(unsynced);
    if (told === undefined || told.forbidden || this.definition.reportNotSynced === undefined) return delayMs;
    const afterMs = (this.#dependencies.failurePolicy ?? defaultFailurePolicy).afterMs;
    const dueInMs = waiting.sinceMs + afterMs - Date.now();
    return dueInMs > 0 ? Math.min(delayMs, dueInMs) : delayMs;
  }

  /** Forgets a key's back-off and failure streak after a reconcile that needs no retry. */
  #settled(key: string, objectKey: ObjectKey): void {
    this.queue.forget(key);
    this.#streaks.succeeded(key);
    this.#dependencies.metrics.reconcileFailing.remove(failingLabels(this.definition.name, objectKey));
  }

  /**
   * Hands a failure to the definition's reportFailure when the streak says so: its first failure, and
   * once the key's failures are persistent (then the failing gauge is set and an error logged).
   */
  async #reportFailure(context: ReconcileContext, key: string, error: unknown): Promise<void> {
    const streak = this.#streaks.failed(key, Date.now());
    const report = this.definition.reportFailure;
    if (streak === undefined) return;
    // The reconcile wrote the status before it failed (a BootstrapRun's captured watermarks, before its
    // Job) and the cache does not show it yet: a report written from the cache would drop what it wrote
    // (the same field manager applies the status). What that write says stands until the next report.
    if (
      !streak.persistent &&
      this.#client.statusWriteUnseenFor(this.definition.primary, context.key) !== undefined
    )
      return;
    if (streak.persistent)
      this.#dependencies.metrics.reconcileFailing.set(failingLabels(this.definition.name, context.key), 1);
    if (report === undefined) return;
    if (streak.persistent)
      context.log.error(
        { err: error, failures: streak.failures, since: new Date(streak.sinceMs).toISOString() },
        "reconcile keeps failing; reporting it in the object's conditions",
      );
    try {
      await report(context, { error, ...streak });
    } catch (reportError) {
      context.log.warn({ err: reportError }, "could not report the failing reconcile on the object");
    }
  }
}

/**
 * Why a key waits, as which lists fail and whether for permissions, not the API server's wording: an
 * informer whose watch is refused and then the fresh list it tries instead is one cause.
 */
function causeOf(unsynced: readonly Unsynced[]): string {
  const failing = unsynced.filter((entry) => entry.error !== undefined);
  const forbidden = failing.every((entry) => isRefused(entry.error));
  const lists = failing
    .map((entry) => `${entry.resource}/${entry.namespace ?? ""}`)
    .sort()
    .join(",");
  return `${forbidden}|${lists}`;
}

/** Labels of a resource's jude_operator_reconcile_failing series (its namespace, as the alert reads it). */
function failingLabels(controller: string, key: ObjectKey) {
  return { controller, namespace: key.namespace, name: key.name };
}

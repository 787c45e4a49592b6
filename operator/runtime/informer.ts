// An informer that never dies silently: it lists, then watches from the list's resourceVersion,
// keeping an in-memory copy of the collection. A normal end of a watch reconnects at once; 410 Gone
// (the resourceVersion is too old) relists and emits the differences (deletions included); any other
// error restarts with exponential back-off; a watch that went silent or outlived its server-side
// timeout is given up as dead (watch-liveness.ts) and opened again from its resourceVersion. Every
// restart is reported, and the time of the last successful list, connection or event is exposed for
// the readiness probe. A list or watch refused for permissions (403: the operator's RBAC was narrowed
// after it listed) makes the cache `refused`: it no longer follows the cluster. It then tries a watch
// from where it was at each retry (not a list of every object: a refused watch is cheap), and once one
// connects lists afresh, emitting what changed, and is trusted again when the watch from that connects.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../plumbing/logger.ts";
import { hasStatus, isRefused } from "./api-error.ts";
import type { WatchEvent } from "./kube-client.ts";
import type { ListWatcher } from "./list-watcher.ts";
import { keyOf, keyToString } from "./object-key.ts";
import type { KubeObject } from "./types.ts";
import {
  defaultWatchInactivityMs,
  defaultWatchTimeoutSeconds,
  watchDeadMs,
  watchTimeoutSeconds,
} from "./watch-liveness.ts";

/** What happened to a cached object. */
export type InformerEventType = "add" | "update" | "delete";

/**
 * Called for every change of the cache; `object` is the new state (the last state for delete), and
 * `previous` the state it replaced (update only): an edit that removed an owner reference or changed
 * a reference to another object is only traced back to whom it concerned through the state before it.
 */
export type InformerHandler = (type: InformerEventType, object: KubeObject, previous?: KubeObject) => void;

/**
 * Why a watch was restarted (the `reason` label of jude_operator_watch_restarts_total): closed by the
 * server, gone (relisted: 410, or a refused watch allowed again), error (back-off) or stalled (given up
 * as dead, watched again).
 */
export type RestartReason = "gone" | "error" | "closed" | "stalled";

export interface InformerOptions {
  /** For logs and metrics, e.g. "deployments.apps". */
  name: string;
  listWatcher: ListWatcher;
  log: Logger;
  /** Called on every restart of the list/watch loop. */
  onRestart?: (reason: RestartReason) => void;
  /** Called when a synced cache stops following the cluster because its list or watch was refused (`refused`). */
  onRefused?: () => void;
  /**
   * Called each time the cache starts following the cluster (synced and not `refused`): after its first
   * list, and when a watch connects after a refusal.
   */
  onSynced?: () => void;
  /** Back-off after errors: base doubling up to max (default 200 ms .. 30 s). */
  backoff?: { baseMs: number; maxMs: number };
  /** Reduces each object to what readers need before it is stored (after managedFields are dropped). */
  transform?: (object: KubeObject) => KubeObject;
  /** Give up a watch that sent nothing (no event, no bookmark) for this long. Default 90 s. */
  inactivityMs?: number;
  /** The shortest server-side watch timeout; each watch asks for one in [this, 2x this). Default 60. */
  watchTimeoutSeconds?: number;
  now?: () => number;
}

/** A cached, continuously updated view of one collection. */
export class Informer {
  readonly name: string;
  readonly #options: InformerOptions;
  readonly #store = new Map<string, KubeObject>();
  /**
   * The same objects in buckets: by namespace ("" for cluster-scoped ones), and by namespace and each
   * label (key=value) they carry. A namespaced list reads only the smallest bucket it asks for.
   */
  readonly #buckets = new Map<string, Map<string, KubeObject>>();
  readonly #handlers: InformerHandler[] = [];
  readonly #stop = new AbortController();
  readonly #now: () => number;
  #resourceVersion = "";
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  /** Whether the first list has been tried (succeeded or failed), and who waits for that. */
  #listTried = false;
  #listTriedWaiters: (() => void)[] = [];
  #lastError: unknown;
  /** The 403 that made the cache `refused`, until a watch connects again. */
  #refusal: unknown;
  /** Refused since it last listed: a watch that connects only says the refusal is over; list first. */
  #listBeforeTrusting = false;
  #lastActivityMs: number | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: InformerOptions) {
    this.name = options.name;
    this.#options = options;
    // The monotonic clock: activity ages (/readyz, the watch-age metric) and liveness deadlines are
    // durations, which a step of the wall clock must not make negative or huge.
    this.#now = options.now ?? (() => performance.now());
  }

  /** Subscribes to changes; add before start() to see the initial list as adds. */
  on(handler: InformerHandler): void {
    this.#handlers.push(handler);
  }

  /** Starts the list/watch loop in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops watching and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error(`informer ${this.name} stopped`));
    await this.#loop;
  }

  /** True once the first list has filled the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has filled the cache. */
  async waitForSync(): Promise<void> {
    if (this.#synced) return;
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /**
   * Resolves once the first list has been tried, whether it filled the cache or failed (a namespace
   * this replica may not list): a caller that must not wait forever for one informer waits for this.
   */
  async waitForFirstList(): Promise<void> {
    if (this.#listTried) return;
    return new Promise((resolve) => this.#listTriedWaiters.push(resolve));
  }

  /** The last error of the list/watch loop while the cache has not synced yet (why it is not synced). */
  get syncError(): unknown {
    return this.#synced ? undefined : this.#lastError;
  }

  /**
   * Why the loop's last try failed, while no list, connection or event has succeeded since (a watch
   * the API server now refuses after the operator's RBAC was narrowed, one given up as dead);
   * undefined while it works. /readyz names it beside an informer gone stale.
   */
  get failure(): unknown {
    return this.#lastError;
  }

  /**
   * Whether the last list or watch was refused for permissions (403), no watch connecting since: the
   * cache, even synced, no longer follows the cluster and is not to be trusted until it has listed
   * again and watches. A 401 is not: the client re-reads a rotated service-account token at least
   * once a minute, and the next try (a watch from the same resourceVersion) works.
   */
  get refused(): boolean {
    return this.#refusal !== undefined;
  }

  /** The refusal (403) that made it `refused`; undefined while it is not. */
  get refusal(): unknown {
    return this.#refusal;
  }

  /** Milliseconds since the last successful list, watch connection or watch event; undefined before. */
  lastActivityAgeMs(): number | undefined {
    return this.#lastActivityMs === undefined ? undefined : this.#now() - this.#lastActivityMs;
  }

  /** The cached object with this "namespace/name" key. */
  get(key: string): KubeObject | undefined {
    return this.#store.get(key);
  }

  /**
   * All cached objects; with `namespace` ("" for cluster-scoped ones), a superset of that namespace's
   * objects carrying every label in `labels`, read from an index (the caller still filters): a
   * reconcile lists its own children without visiting every other namespace's or model's.
   */
  list(namespace?: string, labels: Record<string, string> = {}): KubeObject[] {
    if (namespace === undefined) return [...this.#store.values()];
    let smallest = this.#buckets.get(bucketKey(namespace));
    for (const [key, value] of Object.entries(labels)) {
      const bucket = this.#buckets.get(bucketKey(namespace, key, value));
      if (bucket === undefined) return [];
      if (smallest === undefined || bucket.size < smallest.size) smallest = bucket;
    }
    return [...(smallest?.values() ?? [])];
  }

  /** How many index buckets are held (each non-empty): a bucket emptied by a change is dropped. */
  get indexBuckets(): number {
    return this.#buckets.size;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === "") await this.#relist(signal);
        const outcome = await this.#watchOnce(signal);
        // A stream that ended normally after a while (or after events) is the server's timeout:
        // reconnect at once. One that ended at once, empty, counts as a failure, so it cannot spin.
        failures = outcome.events > 0 || outcome.durationMs >= 1000 ? 0 : failures + 1;
        this.#options.onRestart?.("closed");
        if (failures > 1) await this.#backOff(failures - 1, signal);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof RefusalOverError) {
          this.#options.log.info({ informer: this.name }, "watch allowed again; relisting");
          this.#resourceVersion = "";
          this.#options.onRestart?.("gone");
          continue;
        }
        if (error instanceof WatchStalledError) {
          failures += 1;
          this.#lastError = error;
          this.#options.onRestart?.("stalled");
          this.#options.log.warn(
            { informer: this.name, reason: error.message, resourceVersion: this.#resourceVersion },
            "watch given up as dead; watching again from its resourceVersion",
          );
          await this.#backOff(failures, signal);
          continue;
        }
        if (hasStatus(error, 410)) {
          this.#options.log.info(
            { informer: this.name },
            "watch resourceVersion expired (410 Gone); relisting",
          );
          this.#resourceVersion = "";
          this.#options.onRestart?.("gone");
          continue;
        }
        failures += 1;
        this.#lastError = error;
        this.#listWasTried();
        if (isRefused(error)) {
          // What the cache holds may be stale from now on. Refused until a watch connects again,
          // whatever else fails meanwhile (a relist's 500). Retried as a watch from where the cache
          // was, not a fresh list at each retry (for as long as only the watch is refused, every
          // object each 30 s, for nothing); the one that connects makes it list afresh (#watchOnce).
          const wasRefused = this.refused;
          this.#refusal = error;
          this.#listBeforeTrusting = true;
          if (!wasRefused && this.#synced) this.#options.onRefused?.();
        }
        this.#options.onRestart?.("error");
        this.#options.log.warn(
          { informer: this.name, err: error, failures },
          "list/watch failed; retrying with back-off",
        );
        await this.#backOff(failures, signal);
      }
    }
  }

  async #backOff(failures: number, signal: AbortSignal): Promise<void> {
    const { baseMs, maxMs } = this.#options.backoff ?? { baseMs: 200, maxMs: 30_000 };
    const delay = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const { items, resourceVersion } = await this.#options.listWatcher.list(signal);
    const wasTrusted = this.#trusted;
    this.#listBeforeTrusting = false;
    const seen = new Set<string>();
    for (const object of items) {
      const key = keyToString(keyOf(object));
      seen.add(key);
      this.#upsert(key, object);
    }
    for (const [key, object] of [...this.#store]) {
      if (!seen.has(key)) this.#remove(key, object);
    }
    this.#resourceVersion = resourceVersion;
    // Refused, a list is not enough: only a watch that connects again makes the cache follow the
    // cluster (where lists are allowed and watches are not, the cache stays refused, said once, and
    // /readyz goes on naming the refused watch instead of each list hiding it).
    if (this.refused) this.#lastError = this.#refusal;
    else this.#touch();
    if (!this.#synced) {
      this.#synced = true;
      this.#syncWaiters.splice(0).forEach((resolve) => resolve());
    }
    this.#listWasTried();
    this.#trustedSince(wasTrusted);
  }

  /** Whether the cache follows the cluster: listed, and not refused since. */
  get #trusted(): boolean {
    return this.#synced && !this.refused;
  }

  /** Tells onSynced when the cache, not trusted before (`wasTrusted`), is now. */
  #trustedSince(wasTrusted: boolean): void {
    if (!wasTrusted && this.#trusted) this.#options.onSynced?.();
  }

  #listWasTried(): void {
    if (this.#listTried) return;
    this.#listTried = true;
    this.#listTriedWaiters.splice(0).forEach((resolve) => resolve());
  }

  async #watchOnce(parent: AbortSignal): Promise<{ events: number; durationMs: number }> {
    const startedMs = this.#now();
    const timeoutSeconds = watchTimeoutSeconds(
      this.#options.watchTimeoutSeconds ?? defaultWatchTimeoutSeconds,
    );
    const inactivityMs = this.#options.inactivityMs ?? defaultWatchInactivityMs;
    const dead = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // Re-armed on every message: the watch is given up at watchDeadMs unless a message comes first.
    const arm = (lastMessageMs: number) => {
      clearTimeout(timer);
      const deadMs = watchDeadMs({ startedMs, lastMessageMs, timeoutSeconds, inactivityMs });
      const reason =
        deadMs === lastMessageMs + inactivityMs
          ? `nothing received for ${inactivityMs / 1000} s`
          : `still open ${(deadMs - startedMs) / 1000} s after asking for a ${timeoutSeconds} s timeout`;
      timer = setTimeout(() => dead.abort(new WatchStalledError(reason)), Math.max(0, deadMs - this.#now()));
    };
    arm(startedMs);
    let events = 0;
    try {
      await this.#options.listWatcher.watch(
        this.#resourceVersion,
        {
          onConnected: () => {
            // Connected from a resourceVersion of before the refusal: what the server replays (or its
            // 410) comes after this, and the cache is not to be trusted meanwhile. Given up, to list
            // (once the stream is being read, as a watch given up as dead is).
            if (this.#listBeforeTrusting) {
              queueMicrotask(() => dead.abort(new RefusalOverError("the refused watch is allowed again")));
              return;
            }
            const wasTrusted = this.#trusted;
            this.#refusal = undefined;
            this.#touch();
            this.#trustedSince(wasTrusted);
          },
          onEvent: (event) => {
            events += 1;
            arm(this.#now());
            this.#apply(event);
          },
        },
        AbortSignal.any([parent, dead.signal]),
        timeoutSeconds,
      );
    } catch (error) {
      if (dead.signal.aborted && !parent.aborted) throw dead.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return { events, durationMs: this.#now() - startedMs };
  }

  #apply(event: WatchEvent): void {
    const resourceVersion = event.object.metadata?.resourceVersion;
    if (event.type !== "BOOKMARK") {
      const key = keyToString(keyOf(event.object));
      if (event.type === "DELETED") this.#remove(key, event.object);
      else this.#upsert(key, event.object);
    }
    if (resourceVersion !== undefined) this.#resourceVersion = resourceVersion;
    this.#touch();
  }

  #upsert(key: string, received: KubeObject): void {
    const stripped = withoutManagedFields(received);
    const object = this.#options.transform?.(stripped) ?? stripped;
    const previous = this.#store.get(key);
    if (previous?.metadata?.resourceVersion === object.metadata?.resourceVersion && previous !== undefined)
      return;
    this.#store.set(key, object);
    this.#index(key, object, previous);
    if (previous === undefined) this.#emit("add", object);
    else this.#emit("update", object, previous);
  }

  #remove(key: string, object: KubeObject): void {
    const stored = this.#store.get(key);
    if (!this.#store.delete(key)) return;
    this.#index(key, undefined, stored);
    this.#emit("delete", object);
  }

  /**
   * Keeps #buckets in step with #store: `key` now holds `object` (undefined: removed). An object stays
   * where it was in the buckets it remains in (Map.set keeps a key's place), so a namespace's list comes
   * in the store's order, as the full scan it replaces did, and not reordered by every update.
   */
  #index(key: string, object: KubeObject | undefined, previous: KubeObject | undefined): void {
    const now = object === undefined ? [] : bucketsOf(object);
    if (previous !== undefined) {
      const staying = new Set(now);
      for (const name of bucketsOf(previous)) {
        if (staying.has(name)) continue;
        const bucket = this.#buckets.get(name);
        bucket?.delete(key);
        if (bucket?.size === 0) this.#buckets.delete(name);
      }
    }
    if (object === undefined) return;
    for (const name of now) {
      let bucket = this.#buckets.get(name);
      if (bucket === undefined) this.#buckets.set(name, (bucket = new Map()));
      bucket.set(key, object);
    }
  }

  #emit(type: InformerEventType, object: KubeObject, previous?: KubeObject): void {
    for (const handler of this.#handlers) {
      try {
        handler(type, object, previous);
      } catch (error) {
        // A handler only enqueues keys; one that throws is a bug, but must not stop the informer.
        this.#options.log.error({ informer: this.name, err: error }, "informer handler threw");
      }
    }
  }

  #touch(): void {
    this.#lastActivityMs = this.#now();
    this.#lastError = undefined;
  }
}

/** The index bucket of a namespace, or of the objects in it labelled key=value. */
function bucketKey(namespace: string, key?: string, value?: string): string {
  return key === undefined ? namespace : `${namespace}\u0000${key}=${value}`;
}

/** The index buckets an object is in: its namespace's, and one per label. */
function bucketsOf(object: KubeObject): string[] {
  const namespace = object.metadata?.namespace ?? "";
  return [
    bucketKey(namespace),
    ...Object.entries(object.metadata?.labels ?? {}).map(([key, value]) => bucketKey(namespace, key, value)),
  ];
}

/**
 * The object without metadata.managedFields: server-side apply's bookkeeping is often larger than the
 * object itself, and no controller decides on it, so the cache does not keep it (client-go's informers
 * commonly drop it with a transform for the same reason).
 */
function withoutManagedFields(object: KubeObject): KubeObject {
  if (object.metadata?.managedFields === undefined) return object;
  const { managedFields: _managedFields, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/** A watch connected again after a refusal, given up so that the cache lists afresh first. */
class RefusalOverError extends Error {
  override name = "RefusalOverError";
}

/** A watch given up as dead: it sent nothing for too long, or outlived its server-side timeout. */
class WatchStalledError extends Error {
  override name = "WatchStalledError";
}

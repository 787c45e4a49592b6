/**
 * Keeps a process's cached copy of the version pointer fresh, so readers resolve "the current version"
 * without a Redis round trip per lookup (the pointer lives in another slot than the vectors, so one
 * atomic read of both is impossible on Cluster anyway).
 *
 * Three ways the cache learns of a flip, so a lost notification cannot leave a reader stale forever:
 * the `{P}:flips` notification (fast path), a periodic re-read, and an explicit re-read when a lookup
 * misses. The cache only ever moves to a strictly higher epoch, so a slow re-read that raced with a
 * notification can never move it back to the version before the flip.
 */

import type { RedisClient } from "./commands.ts";
import { isCluster } from "./batch.ts";
import { toStoreError } from "./errors.ts";
import type { PointerState } from "./pointer.ts";
import { EMPTY_POINTER, isNewerPointer, parseFlipMessage, readPointer } from "./pointer.ts";
import type { Store } from "./store.ts";

/** Why the pointer was (re-)read; a metric label. */
export type RefreshReason = "start" | "notification" | "interval" | "miss" | "resubscribe" | "manual";

/** Watcher configuration. */
export interface PointerWatcherOptions {
  /** Re-read the pointer this often even without notifications. Default 5000 ms; 0 disables. */
  readonly refreshIntervalMs?: number;
  /** Subscribe to flip notifications on a dedicated connection. Default true. */
  readonly subscribe?: boolean;
}

type Listener = (pointer: PointerState) => void;

/** A self-refreshing cached pointer. */
export class PointerWatcher {
  readonly #store: Store;
  #pointer: PointerState = EMPTY_POINTER;
  #verifiedAtMs = 0;
  #subscriber: RedisClient | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #inFlight: Promise<PointerState> | null = null;
  readonly #listeners = new Set<Listener>();

  private constructor(store: Store) {
    this.#store = store;
  }

  /** Reads the pointer, subscribes to notifications and starts the periodic refresh. */
  static async start(store: Store, options: PointerWatcherOptions = {}): Promise<PointerWatcher> {
    const watcher = new PointerWatcher(store);
    try {
      if (options.subscribe ?? true) await watcher.#subscribe();
      await watcher.refresh("start");
    } catch (error) {
      await watcher.close();
      throw toStoreError(error, "start pointer watcher");
    }
    const interval = options.refreshIntervalMs ?? 5_000;
    if (interval > 0) {
      watcher.#timer = setInterval(() => {
        // A failed periodic refresh is not fatal: the next tick or a notification will succeed.
        watcher.refresh("interval").catch(() => undefined);
      }, interval);
      watcher.#timer.unref();
    }
    return watcher;
  }

  /** The cached pointer. */
  get pointer(): PointerState {
    return this.#pointer;
  }

  /** Milliseconds since the cached pointer was last confirmed against Redis. */
  get ageMs(): number {
    return Date.now() - this.#verifiedAtMs;
  }

  /** Calls `listener` whenever the cached pointer moves to a newer epoch. Returns an unsubscribe. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Re-reads the pointer from Redis and adopts it when newer; returns the cached pointer afterwards.
   * Concurrent calls share one read, so a burst of misses costs one round trip.
   */
  refresh(reason: RefreshReason): Promise<PointerState> {
    this.#inFlight ??= this.#read(reason).finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  async #read(reason: RefreshReason): Promise<PointerState> {
    const readAt = Date.now();
    const fresh = await readPointer(this.#store);
    this.#store.metrics.pointerRefreshes.inc({ store: this.#store.layout.prefix, reason });
    this.#verifiedAtMs = Math.max(this.#verifiedAtMs, readAt);
    this.#adopt(fresh);
    return this.#pointer;
  }

  /** Stops refreshing and closes the subscription connection. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    if (subscriber) {
      subscriber.removeAllListeners();
      subscriber.disconnect();
    }
  }

  #adopt(candidate: PointerState): void {
    if (this.#closed || !isNewerPointer(candidate, this.#pointer)) return;
    this.#pointer = candidate;
    this.#store.metrics.pointerEpoch.set({ store: this.#store.layout.prefix }, candidate.epoch);
    for (const listener of this.#listeners) listener(candidate);
  }

  async #subscribe(): Promise<void> {
    const channel = this.#store.keys.flipChannel;
    const client = this.#store.client;
    // Pub/Sub takes over a connection, so notifications get their own (a Cluster client for Cluster).
    const subscriber: RedisClient = isCluster(client) ? client.duplicate() : client.duplicate();
    this.#subscriber = subscriber;
    subscriber.on("message", (receivedOn: string, message: string) => {
      if (receivedOn !== channel) return;
      const announced = parseFlipMessage(message);
      this.#store.metrics.pointerRefreshes.inc({ store: this.#store.layout.prefix, reason: "notification" });
      if (announced !== null) this.#adopt(announced);
      // The message may be malformed or trimmed: confirm against Redis either way.
      this.refresh("notification").catch(() => undefined);
    });
    // Ignore errors here; ioredis reconnects and resubscribes, and "ready" triggers a re-read.
    subscriber.on("error", () => undefined);
    let firstReady = true;
    subscriber.on("ready", () => {
      if (firstReady) {
        firstReady = false;
        return;
      }
      // Reconnected: notifications sent while disconnected are lost, so re-read.
      this.refresh("resubscribe").catch(() => undefined);
    });
    await subscriber.subscribe(channel);
  }
}

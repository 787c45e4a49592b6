/**
 * The reader client for ranking services: look up vectors by entity and id in the current version.
 *
 * A lookup resolves the version once, from the cached pointer (pointer-watcher.ts), and reads every id
 * of the call from that one version, so one `getMany` never mixes two model spaces, and each hit
 * reports the version its bytes came from. During a flip both versions are complete and present (the
 * old one is the backup and is only garbage-collected after the bake period), so a reader that has not
 * yet seen the notification still gets hits from the old version; it never sees a miss caused by the
 * flip itself.
 *
 * A miss is only an answer while the version it was read from is still there: when Redis lost its data
 * (a restart without persistence, FLUSHALL) or the version was collected, every id misses, and a
 * ranking service would take "not embedded" for what is an outage. So a lookup with misses confirms
 * (at most once per `recheckPointerOnMissAfterMs`) that its version is registered, and complete when
 * it came from the pointer, and otherwise throws NO_CURRENT_VERSION (VERSION_NOT_FOUND for an explicit
 * version) saying why.
 */

import type { VectorDtype, VectorPayload } from "./codec.ts";
import { decodePayload } from "./codec.ts";
import type { BatchCommand } from "./batch.ts";
import { execBatch } from "./batch.ts";
import { StoreError, StoreErrorCodes, invalidArgument, isStoreError } from "./errors.ts";
import { assertConnected, withinDeadline } from "./lookup-wait.ts";
import { assertEntity, assertVersion, bucketKeys, bucketOf, groupByBucket, recordField } from "./layout.ts";
import type { PointerState } from "./pointer.ts";
import type { PointerWatcherOptions } from "./pointer-watcher.ts";
import { PointerWatcher } from "./pointer-watcher.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";
import type { VersionInfo } from "./versions.ts";
import { getVersion } from "./versions.ts";

/** A vector found in the store. */
export interface VectorHit {
  readonly vector: Float32Array;
  /** The embedding version the vector belongs to; use the query encoder of this version. */
  readonly version: string;
  readonly modelDigest: string;
  readonly dtype: VectorDtype;
}

/** Reader configuration. */
export interface ReaderOptions extends PointerWatcherOptions {
  /**
   * When a lookup misses and the cached pointer was last confirmed longer ago than this, re-read the
   * pointer and, if it moved, repeat the lookup in the new version; likewise re-confirm that the
   * version read is still registered. Default 1000 ms.
   */
  readonly recheckPointerOnMissAfterMs?: number;
  /**
   * How long one lookup may wait for Redis. Then it fails with STORE_UNAVAILABLE and the connection
   * is replaced: a hung server, or one that vanished without closing the connection, would otherwise
   * hold every lookup for as long as the kernel retransmits (~15 min) when the client has no command
   * timeout. Default 5000 ms; 0 disables.
   */
  readonly lookupTimeoutMs?: number;
}

/** Per-call options. */
export interface LookupOptions {
  /** Read this version instead of the current one (diagnostics, shadow traffic). */
  readonly version?: string;
}

/** Reads vectors of the current version of one store. */
export class StoreReader {
  readonly #store: Store;
  readonly #watcher: PointerWatcher;
  readonly #recheckAfterMs: number;
  readonly #lookupTimeoutMs: number;
  /** The registry entry of the version a lookup last missed in, and when it was read. */
  #checked: { version: string; info: VersionInfo | null; atMs: number } | null = null;

  private constructor(store: Store, watcher: PointerWatcher, options: ReaderOptions) {
    this.#store = store;
    this.#watcher = watcher;
    this.#recheckAfterMs = options.recheckPointerOnMissAfterMs ?? 1_000;
    this.#lookupTimeoutMs = options.lookupTimeoutMs ?? 5_000;
  }

  /** Opens a reader: loads the pointer and subscribes to flips. */
  static async open(store: Store, options: ReaderOptions = {}): Promise<StoreReader> {
    const watcher = await PointerWatcher.start(store, options);
    return new StoreReader(store, watcher, options);
  }

  /** The pointer this reader currently resolves versions through. */
  get pointer(): PointerState {
    return this.#watcher.pointer;
  }

  /** The underlying pointer watcher (for `onChange` and explicit refreshes). */
  get watcher(): PointerWatcher {
    return this.#watcher;
  }

  /** Looks up one vector; null when the record does not exist (or was deleted) in the version. */
  async get(entity: string, id: string, options: LookupOptions = {}): Promise<VectorHit | null> {
    const [hit] = await this.getMany(entity, [id], options);
    return hit ?? null;
  }

  /**
   * Looks up many vectors of one entity type in one version, pipelined per bucket and Cluster node.
   * Returns one entry per id, in order; null for misses. Throws INVALID_ARGUMENT naming the position
   * of an id that cannot be a record's (`ids[i]`), NO_CURRENT_VERSION before the first publish or
   * when the version the pointer names is gone or not complete (its records would all miss),
   * VERSION_NOT_FOUND for an explicit version that is not registered,
   * CORRUPT_RECORD naming the record, version and key of a stored vector that does not decode, and
   * STORE_UNAVAILABLE when Redis cannot be reached, at once while the connection is down and after
   * `lookupTimeoutMs` without an answer (readers do not retry or wait for a reconnect: the caller owns
   * the latency budget).
   */
  async getMany(
    entity: string,
    ids: readonly string[],
    options: LookupOptions = {},
  ): Promise<(VectorHit | null)[]> {
    const fields = recordFields(entity, ids);
    const prefix = this.#store.layout.prefix;
    const stopTimer = this.#store.metrics.readBatchSeconds.startTimer({ store: prefix });
    try {
      assertConnected(this.#store);
      return await withinDeadline(this.#store, this.#lookup(fields, options), this.#lookupTimeoutMs);
    } finally {
      stopTimer();
    }
  }

  async #lookup(fields: readonly string[], options: LookupOptions): Promise<(VectorHit | null)[]> {
    if (options.version !== undefined) {
      assertVersion(options.version);
      const hits = await this.#read(options.version, fields);
      if (hits.includes(null)) await this.#confirmVersion(options.version, null);
      return this.#count(hits);
    }
    let pointer = await this.#currentPointer();
    let hits = await this.#read(pointer.current as string, fields);
    if (
      hits.includes(null) &&
      (this.#watcher.ageMs >= this.#recheckAfterMs ||
        !isCurrentState(await this.#registryEntry(pointer.current as string)))
    ) {
      // A miss may mean our pointer is stale (a lost notification and a version since deleted):
      // confirm it, and repeat the whole lookup if the version moved so the answer is not mixed.
      const fresh = await this.#watcher.refresh("miss");
      if (fresh.current !== null && fresh.current !== pointer.current) {
        pointer = fresh;
        hits = await this.#read(fresh.current, fields);
      }
    }
    if (hits.includes(null)) await this.#confirmVersion(pointer.current as string, pointer);
    return this.#count(hits);
  }

  /** Stops the pointer subscription and refresh timer. Does not close the store's client. */
  async close(): Promise<void> {
    await this.#watcher.close();
  }

  async #currentPointer(): Promise<PointerState> {
    let pointer = this.#watcher.pointer;
    if (pointer.current === null) pointer = await this.#watcher.refresh("miss");
    if (pointer.current === null) {
      throw new StoreError(
        StoreErrorCodes.NO_CURRENT_VERSION,
        `store ${this.#store.layout.prefix} has no current version`,
      );
    }
    return pointer;
  }

  /**
   * Throws unless `version` is registered (and complete, when `pointer` named it): its misses are
   * then real. The registry entry is re-read at most once per recheck interval.
   */
  async #confirmVersion(version: string, pointer: PointerState | null): Promise<void> {
    const info = await this.#registryEntry(version);
    const prefix = this.#store.layout.prefix;
    if (pointer === null) {
      if (info !== null && info.state !== "deleting") return;
      const why = info === null ? "is not registered" : "is being deleted";
      throw recordFailure(
        this.#store,
        "read",
        new StoreError(StoreErrorCodes.VERSION_NOT_FOUND, `version ${version} ${why} in store ${prefix}`, {
          details: { version },
        }),
      );
    }
    if (isCurrentState(info)) return;
    const why =
      info === null
        ? "is no longer registered (Redis lost its data, or someone removed it)"
        : `is ${info.state}, not complete`;
    throw recordFailure(
      this.#store,
      "read",
      new StoreError(
        StoreErrorCodes.NO_CURRENT_VERSION,
        `store ${prefix} has no current version: version ${version}, which its pointer named at epoch ` +
          `${pointer.epoch}, ${why}; lookups resume once the pointer names a complete version again`,
        { details: { version, epoch: pointer.epoch, state: info?.state ?? null } },
      ),
    );
  }

  /** The registry entry of `version`, re-read when older than the recheck interval. */
  async #registryEntry(version: string): Promise<VersionInfo | null> {
    const checked = this.#checked;
    if (checked !== null && checked.version === version && Date.now() - checked.atMs < this.#recheckAfterMs)
      return checked.info;
    const atMs = Date.now();
    const info = await getVersion(this.#store, version);
    this.#checked = { version, info, atMs };
    return info;
  }

  async #read(version: string, fields: readonly string[]): Promise<(VectorHit | null)[]> {
    const layout = this.#store.layout;
    const groups = [...groupByBucket(layout, fields)];
    const commands: BatchCommand[] = groups.map(([bucket, indexes]) => {
      const key = bucketKeys(layout, version, bucket).data;
      return {
        key,
        queue: (pipeline) => pipeline.hmgetBuffer(key, ...indexes.map((index) => fields[index] as string)),
      };
    });
    const results = await execBatch(this.#store.client, commands);
    const hits = new Array<VectorHit | null>(fields.length).fill(null);
    results.forEach((result, position) => {
      if (result.error !== null) throw recordFailure(this.#store, "read", result.error);
      const payloads = result.value as (Buffer | null)[];
      const indexes = (groups[position] as [number, number[]])[1];
      indexes.forEach((index, slot) => {
        const payload = payloads[slot];
        if (payload === null || payload === undefined) return;
        const decoded = this.#decode(payload, version, fields[index] as string);
        hits[index] = {
          vector: decoded.vector,
          version,
          modelDigest: decoded.modelDigest,
          dtype: decoded.dtype,
        };
      });
    });
    return hits;
  }

  /** Decodes one payload; a CORRUPT_RECORD says which record of which version (and key) it is. */
  #decode(payload: Buffer, version: string, field: string): VectorPayload {
    try {
      return decodePayload(payload);
    } catch (error) {
      if (!isStoreError(error)) throw error;
      const key = bucketKeys(this.#store.layout, version, bucketOf(this.#store.layout, field)).data;
      throw recordFailure(
        this.#store,
        "read",
        new StoreError(
          StoreErrorCodes.CORRUPT_RECORD,
          `record ${field} of version ${version} (HGET ${key} ${field}): ${error.message}`,
          { cause: error, details: { field, version, key } },
        ),
      );
    }
  }

  #count(hits: (VectorHit | null)[]): (VectorHit | null)[] {
    const misses = hits.reduce((total, hit) => total + (hit === null ? 1 : 0), 0);
    const prefix = this.#store.layout.prefix;
    if (hits.length - misses > 0)
      this.#store.metrics.reads.inc({ store: prefix, result: "hit" }, hits.length - misses);
    if (misses > 0) this.#store.metrics.reads.inc({ store: prefix, result: "miss" }, misses);
    return hits;
  }
}

/** Whether a version in this registry state can be the current one (its misses are real). */
function isCurrentState(info: VersionInfo | null): boolean {
  return info?.state === "complete";
}

/**
 * The record fields of one lookup. An id that cannot be a record's is refused with its position, so
 * the caller of a lookup of thousands of ids can find it.
 */
function recordFields(entity: string, ids: readonly string[]): string[] {
  assertEntity(entity);
  return ids.map((id, index) => {
    try {
      return recordField(entity, id);
    } catch (error) {
      if (!isStoreError(error)) throw error;
      throw invalidArgument(`ids[${index}]: ${error.message}`, { index });
    }
  });
}

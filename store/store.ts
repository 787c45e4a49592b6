/**
 * The handle every store operation takes: a client, the store's layout (prefix + bucket count, read
 * from `{P}:meta` so all processes agree on it) and the metrics to update.
 */

import { recoverConnection } from "./batch.ts";
import type { RedisClient } from "./commands.ts";
import { defineStoreCommands, runScript } from "./commands.ts";
import { StoreError, StoreErrorCodes, toStoreError } from "./errors.ts";
import type { ControlKeys, StoreLayout } from "./layout.ts";
import { LAYOUT_VERSION, controlKeys, createLayout, defaultPrefix } from "./layout.ts";
import type { StoreMetrics } from "./metrics.ts";
import { createStoreMetrics } from "./metrics.ts";

/** An opened store. Cheap to pass around; owns nothing (the caller owns the client). */
export interface Store {
  readonly client: RedisClient;
  readonly layout: StoreLayout;
  readonly keys: ControlKeys;
  readonly metrics: StoreMetrics;
}

/** How to open a store. Exactly one of `name` (prefix `jude:<name>`) or `prefix`. */
export interface OpenStoreOptions {
  readonly name?: string;
  readonly prefix?: string;
  /**
   * Create the store metadata when it does not exist yet (writers, the operator). Readers leave this
   * off so a typo in a store name fails instead of silently creating an empty store.
   */
  readonly create?: boolean;
  /** Bucket count for a new store; when given for an existing store it must match. */
  readonly buckets?: number;
  readonly metrics?: StoreMetrics;
}

/** Opens (and with `create`, initialises) a store; verifies the stored layout version and bucket count. */
export async function openStore(client: RedisClient, options: OpenStoreOptions): Promise<Store> {
  const prefix = resolvePrefix(options);
  // Validate the prefix (and the requested bucket count) before any Redis call.
  const requested = createLayout(prefix, options.buckets);
  const keys = controlKeys(requested);
  defineStoreCommands(client);
  let layoutText: unknown;
  let bucketsText: unknown;
  try {
    if (options.create) {
      const reply = await runScript(client, "judeStoreInitMeta", [
        keys.meta,
        LAYOUT_VERSION,
        requested.buckets,
      ]);
      [layoutText, bucketsText] = reply as [unknown, unknown];
    } else {
      [layoutText, bucketsText] = await client.hmget(keys.meta, "layout", "buckets");
    }
  } catch (error) {
    throw toStoreError(error, `open store ${prefix}`);
  }
  if (layoutText === null || bucketsText === null) {
    throw new StoreError(StoreErrorCodes.STORE_NOT_FOUND, `store ${prefix} does not exist (no ${keys.meta})`);
  }
  if (Number(layoutText) !== LAYOUT_VERSION) {
    throw new StoreError(
      StoreErrorCodes.LAYOUT_MISMATCH,
      `store ${prefix} has layout ${String(layoutText)}, this client understands ${LAYOUT_VERSION}`,
    );
  }
  const buckets = Number(bucketsText);
  if (options.buckets !== undefined && options.buckets !== buckets) {
    throw new StoreError(
      StoreErrorCodes.LAYOUT_MISMATCH,
      `store ${prefix} has ${buckets} buckets, caller asked for ${options.buckets}`,
      { details: { stored: buckets, requested: options.buckets } },
    );
  }
  return {
    client,
    layout: createLayout(prefix, buckets),
    keys,
    metrics: options.metrics ?? createStoreMetrics(),
  };
}

function resolvePrefix(options: OpenStoreOptions): string {
  if (options.prefix !== undefined && options.name !== undefined) {
    throw new StoreError(StoreErrorCodes.INVALID_ARGUMENT, "give either a store name or a prefix, not both");
  }
  if (options.prefix !== undefined) return options.prefix;
  if (options.name !== undefined) return defaultPrefix(options.name);
  throw new StoreError(StoreErrorCodes.INVALID_ARGUMENT, "a store name or prefix is required");
}

/**
 * Records a failed operation in the error counter and returns the error as a StoreError. A transient
 * failure also starts the client's recovery (not awaited; see recoverConnection): on a Cluster a
 * re-read of the slot map, since ioredis re-reads it only after a MOVED or a closed connection and a
 * primary that hangs (timeouts, connection open) would otherwise keep receiving the flips, reads and
 * counts of a long-lived client after its replica took over; on a standalone server whose command
 * timed out, a new connection.
 */
export function recordFailure(store: Store, operation: string, error: unknown): StoreError {
  const storeError = toStoreError(error, operation);
  store.metrics.errors.inc({ store: store.layout.prefix, operation, code: storeError.code });
  if (storeError.retryable) void recoverConnection(store.client, error);
  return storeError;
}

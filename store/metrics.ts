/**
 * Prometheus metrics of the store client, all prefixed `jude_store_` and labelled with the store's key
 * prefix. Create them once per registry and share the object between readers and writers of one
 * process; without a registry they are collected nowhere (library code never touches the global one).
 */

import type { Registry } from "prom-client";
import { Counter, Gauge, Histogram } from "prom-client";

/** The metric families the store updates. */
export interface StoreMetrics {
  readonly writes: Counter<"store" | "outcome">;
  readonly writeRetries: Counter<"store">;
  readonly writeBatchSeconds: Histogram<"store">;
  readonly reads: Counter<"store" | "result">;
  readonly readBatchSeconds: Histogram<"store">;
  readonly pointerEpoch: Gauge<"store">;
  readonly pointerRefreshes: Counter<"store" | "reason">;
  readonly flips: Counter<"store" | "kind" | "result">;
  readonly gcKeysDeleted: Counter<"store">;
  readonly textCache: Counter<"store" | "result">;
  readonly errors: Counter<"store" | "operation" | "code">;
}

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Creates the store metrics, registered in `registry` when given. */
export function createStoreMetrics(registry?: Registry): StoreMetrics {
  const registers = registry ? [registry] : [];
  return {
    writes: new Counter({
      name: "jude_store_writes_total",
      help: "Conditional record writes by outcome (created, updated, deleted, tombstoned, advanced, stale).",
      labelNames: ["store", "outcome"],
      registers,
    }),
    writeRetries: new Counter({
      name: "jude_store_write_retries_total",
      help: "Write attempts repeated after a transient Redis failure.",
      labelNames: ["store"],
      registers,
    }),
    writeBatchSeconds: new Histogram({
      name: "jude_store_write_batch_seconds",
      help: "Time to apply one batch of conditional writes, retries included.",
      labelNames: ["store"],
      buckets: latencyBuckets,
      registers,
    }),
    reads: new Counter({
      name: "jude_store_reads_total",
      help: "Vector lookups by result (hit, miss).",
      labelNames: ["store", "result"],
      registers,
    }),
    readBatchSeconds: new Histogram({
      name: "jude_store_read_batch_seconds",
      help: "Time of one get/getMany call.",
      labelNames: ["store"],
      buckets: latencyBuckets,
      registers,
    }),
    pointerEpoch: new Gauge({
      name: "jude_store_pointer_epoch",
      help: "Epoch of the version pointer this process currently reads through.",
      labelNames: ["store"],
      registers,
    }),
    pointerRefreshes: new Counter({
      name: "jude_store_pointer_refreshes_total",
      help: "Reloads of the version pointer by reason (start, notification, interval, miss, resubscribe).",
      labelNames: ["store", "reason"],
      registers,
    }),
    flips: new Counter({
      name: "jude_store_flips_total",
      help: "Pointer flips and rollbacks attempted, by result (ok, noop, or error code).",
      labelNames: ["store", "kind", "result"],
      registers,
    }),
    gcKeysDeleted: new Counter({
      name: "jude_store_gc_keys_deleted_total",
      help: "Redis keys removed by version garbage collection.",
      labelNames: ["store"],
      registers,
    }),
    textCache: new Counter({
      name: "jude_store_text_cache_total",
      help: "Text-hash cache lookups during bootstrap by result (ready, claimed, pending).",
      labelNames: ["store", "result"],
      registers,
    }),
    errors: new Counter({
      name: "jude_store_errors_total",
      help: "Store operations that failed, by operation and error code.",
      labelNames: ["store", "operation", "code"],
      registers,
    }),
  };
}

/**
 * An in-memory EntityStore for unit tests of the pipelines' batch logic. It follows the store's write
 * rule (a newer source position wins, tombstones included; an advance moves only the position of a
 * live record with the same content hash) written out here independently of the
 * store package, and records every write it was sent.
 */
import type { RecordMeta, StoreWrite, WriteOutcome } from "../../store/index.ts";
import type { EntityStore } from "../../pipelines/shared/entity-writes.ts";

/** The store double; `metas` is its state, `writes` what it was sent, `reads` how often it was read. */
export function memoryStore(
  initial: Record<string, RecordMeta> = {},
): EntityStore & { metas: Map<string, RecordMeta>; writes: StoreWrite[]; reads: number } {
  const metas = new Map(Object.entries(initial));
  const writes: StoreWrite[] = [];
  const double = {
    metas,
    writes,
    reads: 0,
    readMeta: async (_version: string, keys: readonly { entity: string; id: string }[]) => {
      double.reads++;
      return keys.map((key) => metas.get(key.id) ?? null);
    },
    write: async (batch: readonly StoreWrite[]) =>
      batch.map((write): WriteOutcome => {
        writes.push(write);
        const stored = metas.get(write.id);
        const partition = write.partition ?? -1;
        const newer =
          stored === undefined ||
          write.eventTimeMs > stored.eventTimeMs ||
          (write.eventTimeMs === stored.eventTimeMs &&
            (partition > stored.partition ||
              (partition === stored.partition && write.offset > stored.offset)));
        if (!newer) return "stale";
        if (write.kind === "advance") {
          // Only a live record with the same text moves; its vector stays.
          if (!stored?.live || stored.contentHash !== write.contentHash) return "stale";
          metas.set(write.id, {
            ...stored,
            eventTimeMs: write.eventTimeMs,
            offset: write.offset,
            partition,
          });
          return "advanced";
        }
        metas.set(write.id, {
          live: write.kind === "upsert",
          eventTimeMs: write.eventTimeMs,
          offset: write.offset,
          partition: write.partition ?? -1,
          contentHash: write.kind === "upsert" ? write.contentHash : "",
        });
        return write.kind === "delete" ? "tombstoned" : stored === undefined ? "created" : "updated";
      }),
  };
  return double;
}

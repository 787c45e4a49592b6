/**
 * An independent model of the nearline contract, written from the README (prompt rendering, content
 * hash, newer-wins, change detection, output records), not from `pipelines/`: the expected store state
 * and the expected output records of a job changelog, so tests compare the worker with a second
 * computation instead of with its own renderer.
 */
import { createHash } from "node:crypto";

/** The test pipeline's prompt template (its config uses it; the hash covers it). */
export const jobTemplate = "Job: {{title}} at {{company}}. Skills: {{skills}}";

/** A changelog record as read back from Kafka (position included). */
export interface SourceRecord {
  key: string;
  value: Buffer | undefined;
  partition: number;
  offset: bigint;
  timestampMs: number;
}

/** A change the worker must apply to the store and publish on the output topic. */
export interface ExpectedChange {
  id: string;
  op: "upsert" | "delete";
  partition: number;
  offset: bigint;
  eventTimeMs: number;
  /** The prompt text of an upsert. */
  text?: string;
}

/** Whitespace runs become one space, ends trimmed (the README's normalisation, for ASCII test data). */
const squash = (text: string): string => text.replace(/\s+/g, " ").trim();

/** "Job: {{title}} at {{company}}. Skills: {{skills}}" with skills joined by ", ", missing fields empty. */
export function jobText(value: Record<string, unknown>): string {
  const field = (name: string): string => {
    const raw = value[name];
    if (Array.isArray(raw)) return squash(raw.filter((item) => typeof item === "string").join(", "));
    return typeof raw === "string" ? squash(raw) : "";
  };
  return squash(`Job: ${field("title")} at ${field("company")}. Skills: ${field("skills")}`);
}

/** sha256 hex of `<version> NUL <template> NUL <text>`. */
export function jobHash(text: string, version: string): string {
  return createHash("sha256").update(`${version}\u0000${jobTemplate}\u0000${text}`).digest("hex");
}

/** The change a record carries under the test pipeline's decode rules ($.jobId, $.updatedAt, $.op == "d"). */
function changeOf(record: SourceRecord): ExpectedChange {
  const position = { partition: record.partition, offset: record.offset };
  if (record.value === undefined)
    return { id: record.key, op: "delete", eventTimeMs: record.timestampMs, ...position };
  const value = JSON.parse(record.value.toString()) as Record<string, unknown>;
  const id = String(value.jobId);
  const eventTimeMs = Number(value.updatedAt);
  if (value.op === "d") return { id, op: "delete", eventTimeMs, ...position };
  return { id, op: "upsert", eventTimeMs, text: jobText(value), ...position };
}

/** Whether `a` is newer than `b` in the store's order: event time, then partition, then offset. */
function newerThan(
  a: ExpectedChange,
  b: { eventTimeMs: number; partition: number; offset: bigint },
): boolean {
  return (
    a.eventTimeMs > b.eventTimeMs ||
    (a.eventTimeMs === b.eventTimeMs &&
      (a.partition > b.partition || (a.partition === b.partition && a.offset > b.offset)))
  );
}

/**
 * The store state and output records of a changelog. A change is applied when its (event time,
 * partition, offset) is newer than the key's stored position and, for an upsert, its hash differs from
 * the live stored one; an unchanged newer upsert moves only the stored position.
 *
 * The worker reads each partition in offset order, but which partition's records it reads first is
 * up to the fetches. The final state does not depend on it (the newest position wins), nor do the
 * output records of a key whose records are all on one partition: those are walked in offset order
 * and returned in `applied`, each of which must be on the output topic. A key on several partitions
 * (partitions were added and the producer moved it) has output records that depend on it: its event
 * on a lower partition of the same event time as one on a higher partition is published when read
 * first and skipped as stale when read second, and an update older than one on another partition
 * likewise. For such a key only its newest change is in `applied` (nothing can be stored past it;
 * an upsert only when no other record of the key has its text, else it may be "unchanged"); each of
 * its other changes that no earlier record of its own partition beats (those are always read before
 * it) is in `optional`: it may be on the output topic. The rest must not be. `final` is the final
 * hash per key (null: deleted).
 */
export function expectedChanges(
  records: readonly SourceRecord[],
  version: string,
): { applied: ExpectedChange[]; optional: ExpectedChange[]; final: Map<string, string | null> } {
  const byKey = new Map<string, ExpectedChange[]>();
  const ordered = [...records].sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
  for (const record of ordered) {
    const change = changeOf(record);
    const changes = byKey.get(change.id) ?? [];
    changes.push(change);
    byKey.set(change.id, changes);
  }
  const hashOf = (change: ExpectedChange) =>
    change.text === undefined ? null : jobHash(change.text, version);
  const applied: ExpectedChange[] = [];
  const optional: ExpectedChange[] = [];
  const final = new Map<string, string | null>();
  for (const [id, changes] of byKey) {
    const newest = changes.reduce((best, change) => (newerThan(change, best) ? change : best));
    final.set(id, hashOf(newest));
    if (new Set(changes.map((change) => change.partition)).size === 1) {
      // One partition: one read order, walked as the worker reads it.
      let stored: { eventTimeMs: number; partition: number; offset: bigint; hash: string | null } | undefined;
      for (const change of changes) {
        if (stored !== undefined && !newerThan(change, stored)) continue;
        const hash = hashOf(change);
        const before = stored;
        stored = { ...change, hash };
        // Unchanged: no output record and no inference, but the newer position is kept (a later record
        // with an event time between the two is older than it, and loses).
        if (hash !== null && before?.hash === hash) continue;
        applied.push(change);
      }
      continue;
    }
    const newestHash = hashOf(newest);
    const newestCertain =
      newestHash === null || changes.every((change) => change === newest || hashOf(change) !== newestHash);
    for (const change of changes) {
      if (change === newest && newestCertain) {
        applied.push(change);
        continue;
      }
      const beaten = changes.some(
        (other) =>
          other.partition === change.partition && other.offset < change.offset && !newerThan(change, other),
      );
      if (!beaten) optional.push(change);
    }
  }
  return { applied, optional, final };
}

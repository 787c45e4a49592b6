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

/**
 * Walks each partition in offset order: a change is applied when its (event time, partition, offset) is newer than
 * the key's stored position and, for an upsert, its hash differs from the live stored one; an unchanged
 * newer upsert moves only the stored position. Returns the applied changes (each must be on the
 * output topic) and the final hash per key (null: deleted).
 */
export function expectedChanges(
  records: readonly SourceRecord[],
  version: string,
): { applied: ExpectedChange[]; final: Map<string, string | null> } {
  const ordered = [...records].sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
  const stored = new Map<
    string,
    { eventTimeMs: number; partition: number; offset: bigint; hash: string | null }
  >();
  const applied: ExpectedChange[] = [];
  for (const record of ordered) {
    const change = changeOf(record);
    const before = stored.get(change.id);
    const newer =
      before === undefined ||
      change.eventTimeMs > before.eventTimeMs ||
      (change.eventTimeMs === before.eventTimeMs &&
        (change.partition > before.partition ||
          (change.partition === before.partition && change.offset > before.offset)));
    if (!newer) continue;
    const hash = change.text === undefined ? null : jobHash(change.text, version);
    stored.set(change.id, {
      eventTimeMs: change.eventTimeMs,
      partition: change.partition,
      offset: change.offset,
      hash,
    });
    // Unchanged: no output record and no inference, but the newer position is kept (a later record
    // with an event time between the two is older than it, and loses).
    if (hash !== null && before?.hash === hash) continue;
    applied.push(change);
  }
  return { applied, final: new Map([...stored].map(([id, state]) => [id, state.hash])) };
}

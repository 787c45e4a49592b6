/**
 * Records the nearline worker produces: vectors for offline training (point-in-time joins need the
 * event time, source position, model digest and template hash) and dead letters with their reason.
 */
import { decodeText, type EntityChange, type SourceRecord } from "../shared/decode.ts";

/** A consumed Kafka record. */
export interface ConsumedRecord extends SourceRecord {
  topic: string;
  /**
   * The record's headers (a dead letter carries them on). A header without a value (Kafka's null,
   * which a Java producer's `RecordHeader(name, null)` sends) has an undefined or null value.
   */
  headers?: ReadonlyMap<Buffer, Buffer | null | undefined> | undefined;
}

/** A record to produce; keys, values and header values are bytes or UTF-8 text. */
export interface OutputRecord {
  topic: string;
  key: string | Buffer | undefined;
  value: string | Buffer | undefined;
  headers: Record<string, string | Buffer>;
  /**
   * Headers carried over from a consumed record as they came, before `headers` and in their order:
   * a name may repeat (W3C `baggage`, several tracing vendors), which a record by name cannot hold.
   * A null value is a header without a value, sent as such.
   */
  carriedHeaders?: readonly (readonly [string | Buffer, Buffer | null])[];
}

/** Which model version produced a vector. */
export interface VectorIdentity {
  entity: string;
  version: string;
  modelDigest: string;
  templateHash: string;
}

/**
 * The output topic's value: JSON with the vector as base64 of float32 little-endian bytes (compact
 * and readable from any language), or `vector: null` for a delete, so consumers see deletes too.
 */
export function outputRecord(
  topic: string,
  identity: VectorIdentity,
  source: ConsumedRecord,
  change: EntityChange,
  vector: Float32Array | undefined,
): OutputRecord {
  const bytes =
    vector === undefined ? undefined : Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
  const value = {
    entity: identity.entity,
    id: change.id,
    op: change.op,
    version: identity.version,
    modelDigest: identity.modelDigest,
    templateHash: identity.templateHash,
    eventTime: new Date(change.eventTimeMs).toISOString(),
    source: { topic: source.topic, partition: source.partition, offset: source.offset.toString() },
    dimensions: vector?.length ?? 0,
    vector: bytes === undefined ? null : littleEndian(bytes).toString("base64"),
  };
  return {
    topic,
    key: outputRecordKey(identity, change.id),
    value: JSON.stringify(value),
    headers: { "jude.version": identity.version },
  };
}

/**
 * The output record's key, `<entity>/<version>/<id>`: a compacted topic keeps the last record of each
 * key, and during a promotion two versions' workers (and pipelines of other entity types, whose ids may
 * coincide) write to one topic; keyed by the id alone, one version's latest vector replaced the
 * other's. Entity and version are DNS labels, so the first two slashes split the key (ids may hold
 * slashes). One key's records stay in one partition, in order.
 */
export function outputRecordKey(identity: Pick<VectorIdentity, "entity" | "version">, id: string): string {
  return `${identity.entity}/${identity.version}/${id}`;
}

/**
 * The original record (key, value and headers; its timestamp in `jude.source.timestamp`), with the
 * reason in headers so it can be fixed and replayed. Source headers are carried as they came, repeated
 * names included, but for those this dead letter sets itself. `jude.version` names the embedding
 * version whose worker dead-lettered it: while two versions' workers read the changelog (a promotion,
 * the bake period) each dead-letters a bad event, and the two records were otherwise the same.
 *
 * A dead letter must fit the dead-letter topic whatever the source record held: one the broker
 * refuses stops the worker on that record for good. A source record just under the broker's limit
 * plus the dead letter's own headers does not fit, whether its bytes are in the value, the key or
 * the headers, so each part is bounded: the value is cut to `maxDeadLetterValueBytes`, the key to
 * `maxDeadLetterKeyBytes`, and source headers are carried, in order, while they fit in
 * `maxDeadLetterHeaderBytes` (the others are left out). What was cut is said with its full size
 * (`jude.source.value-bytes`, `jude.source.key-bytes`, `jude.source.headers-bytes`); the source
 * position headers lead to the original.
 */
export function deadLetterRecord(
  topic: string,
  source: ConsumedRecord,
  code: string,
  reason: string,
  version: string,
): OutputRecord {
  const valueBytes = source.value?.length ?? 0;
  const keyBytes = source.key?.length ?? 0;
  const headers: Record<string, string> = {
    "jude.error.code": code,
    "jude.error.reason": reason.slice(0, 1000),
    "jude.version": version,
    "jude.source.topic": source.topic,
    "jude.source.partition": String(source.partition),
    "jude.source.offset": source.offset.toString(),
    "jude.source.timestamp": String(source.timestamp),
    ...(valueBytes > maxDeadLetterValueBytes ? { "jude.source.value-bytes": String(valueBytes) } : {}),
    ...(keyBytes > maxDeadLetterKeyBytes ? { "jude.source.key-bytes": String(keyBytes) } : {}),
  };
  // Every source header but those this dead letter sets itself (a replayed dead letter that fails
  // again says why it failed now, and how long its parts are now).
  const ownNames = new Set([...Object.keys(headers), ...cutSizeHeaders]);
  const sourceHeaders = [...(source.headers ?? [])].flatMap(([name, value]) => {
    // A name that is not UTF-8 goes as its bytes: as text it would come out as U+FFFD, another name.
    const text = decodeText(name);
    if (text !== undefined && ownNames.has(text)) return [];
    return [[text ?? Buffer.from(name), value == null ? null : Buffer.from(value)] as const];
  });
  const headerBytes = sourceHeaders.reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + (value?.length ?? 0),
    0,
  );
  let carriedBytes = 0;
  const carriedHeaders = sourceHeaders.filter(([name, value]) => {
    const bytes = Buffer.byteLength(name) + (value?.length ?? 0);
    if (carriedBytes + bytes > maxDeadLetterHeaderBytes) return false;
    carriedBytes += bytes;
    return true;
  });
  if (carriedHeaders.length < sourceHeaders.length)
    headers["jude.source.headers-bytes"] = String(headerBytes);
  return {
    topic,
    key: source.key ? Buffer.from(source.key.subarray(0, maxDeadLetterKeyBytes)) : undefined,
    value: source.value ? Buffer.from(source.value.subarray(0, maxDeadLetterValueBytes)) : undefined,
    headers,
    carriedHeaders,
  };
}

/** The headers saying a part of the source record was cut, with its full size. */
const cutSizeHeaders = ["jude.source.value-bytes", "jude.source.key-bytes", "jude.source.headers-bytes"];

/**
 * Longest value a dead letter carries. A record just under the broker's message limit (1 MiB by
 * default) plus the dead letter's headers would exceed it, and a refused dead letter stops the
 * worker on that record for good. A longer value is cut, and `jude.source.value-bytes` gives its
 * full length; the source position headers lead to the original.
 */
export const maxDeadLetterValueBytes = 512 * 1024;

/** Longest key a dead letter carries (an entity id is at most 512 bytes; see deadLetterRecord). */
export const maxDeadLetterKeyBytes = 16 * 1024;

/** Most bytes (names and values) of source headers a dead letter carries (see deadLetterRecord). */
export const maxDeadLetterHeaderBytes = 64 * 1024;

function littleEndian(bytes: Buffer): Buffer {
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] === 1) return bytes;
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy;
}

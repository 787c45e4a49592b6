/**
 * Turns one changelog record into a change of one entity: its id, upsert or delete, and event time.
 * Records that cannot be decoded become a `DecodeFailure` with a stable code and a human reason; the
 * pipeline dead-letters them and keeps going.
 */
import { compileJsonPath, fieldText, type CompiledJsonPath } from "../../crds/grammar/json-path.ts";

/** What the decoder needs of a Kafka record (independent of the client library). */
export interface SourceRecord {
  key: Uint8Array | null | undefined;
  value: Uint8Array | null | undefined;
  /** Record timestamp, epoch milliseconds. */
  timestamp: bigint | number;
  partition: number;
  offset: bigint;
}

/** Decoding rules, as in NearlinePipeline.spec.decode. */
export interface DecodeRules {
  keyPath?: string | undefined;
  /** JSON path of the id inside the record key read as JSON; exclusive with keyPath. */
  recordKeyPath?: string | undefined;
  eventTimePath?: string | undefined;
  delete?: { path: string; values: string[] } | undefined;
  /** How far an event time may be ahead of `now`; unset: no limit (NearlinePipeline's default is 3600). */
  maxEventTimeAheadSeconds?: number | undefined;
}

/** What the decoder takes from its surroundings. */
export interface DecoderOptions {
  /** The clock event times are compared with; Date.now by default. */
  now?: () => number;
}

export type EntityChange =
  | { op: "upsert"; id: string; eventTimeMs: number; document: unknown }
  | { op: "delete"; id: string; eventTimeMs: number };

export const decodeFailureCodes = [
  "INVALID_JSON",
  "NOT_AN_OBJECT",
  "MISSING_ID",
  "INVALID_ID",
  "INVALID_EVENT_TIME",
  "EVENT_TIME_AHEAD",
  "TOMBSTONE_WITHOUT_KEY",
] as const;
export type DecodeFailureCode = (typeof decodeFailureCodes)[number];

export interface DecodeFailure {
  code: DecodeFailureCode;
  reason: string;
}

export type DecodeResult = { ok: true; change: EntityChange } | { ok: false; failure: DecodeFailure };

/** Longest entity id accepted (bytes); ids are part of store keys. */
export const MAX_ID_BYTES = 512;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Compiles the rules once; the returned function decodes one record. */
export function createDecoder(
  rules: DecodeRules,
  options: DecoderOptions = {},
): (record: SourceRecord) => DecodeResult {
  const now = options.now ?? Date.now;
  const maxAheadMs =
    rules.maxEventTimeAheadSeconds !== undefined ? rules.maxEventTimeAheadSeconds * 1000 : undefined;
  // Newer event times win in the store: one far ahead would hide every later change of its entity.
  const checkAhead = (change: EntityChange): DecodeResult => {
    if (maxAheadMs === undefined) return { ok: true, change };
    const aheadMs = change.eventTimeMs - now();
    if (aheadMs <= maxAheadMs) return { ok: true, change };
    return fail(
      "EVENT_TIME_AHEAD",
      `event time ${new Date(change.eventTimeMs).toISOString()} is ${describeDuration(aheadMs)} ahead of this worker's clock, more than decode.maxEventTimeAheadSeconds (${rules.maxEventTimeAheadSeconds}): newer event times win in the store, so it would hide every later change of entity ${JSON.stringify(change.id)}`,
    );
  };
  const keyPath = rules.keyPath !== undefined ? compileJsonPath(rules.keyPath) : undefined;
  const recordKeyPath = rules.recordKeyPath !== undefined ? compileJsonPath(rules.recordKeyPath) : undefined;
  // The entity id carried by the record key: its UTF-8 text, or the id at recordKeyPath of the key
  // read as JSON (Debezium's and Kafka Connect's keys are objects such as {"memberId": 7}).
  const idFromKey = (
    key: SourceRecord["key"],
    missing: DecodeFailure,
    notText: DecodeFailureCode,
  ): { id: string } | DecodeFailure => {
    if (key === null || key === undefined || key.length === 0) return missing;
    const text = decodeText(key);
    // A key there, but not text: say so, not "no key" (a binary key, e.g. a schema registry's Avro
    // key, sends a user looking for keys the producer did send).
    if (text === undefined)
      return {
        code: notText,
        reason: `the record key (${key.length} bytes, starting ${Buffer.from(key.subarray(0, 8)).toString("hex")}) is not valid UTF-8: ids are text`,
      };
    if (recordKeyPath === undefined) return { id: text };
    const where = `${rules.recordKeyPath} of the record key`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { code: "MISSING_ID", reason: `no entity id at ${where}: the key is not JSON` };
    }
    const id = idAt(recordKeyPath, parsed);
    if (typeof id === "object")
      return {
        code: "INVALID_ID",
        reason: `the entity id at ${where} ${id.unusable}: ids are strings or integers`,
      };
    if (id === undefined || id === "") return { code: "MISSING_ID", reason: `no entity id at ${where}` };
    return { id };
  };
  const eventTimePath = rules.eventTimePath !== undefined ? compileJsonPath(rules.eventTimePath) : undefined;
  const deleteRule =
    rules.delete !== undefined
      ? { path: compileJsonPath(rules.delete.path), values: new Set(rules.delete.values) }
      : undefined;

  // Debezium's truncate event (op "t", read where the delete rule reads "d") has no key: it names no
  // row, and a pipeline cannot delete every entity of a table, so say so rather than only "no key".
  const isTruncate = (document: object): boolean =>
    deleteRule !== undefined && fieldText(deleteRule.path(document)) === "t";
  const truncateNote =
    ': a truncate event (op "t") names no row, so the vectors of the table\'s rows stay (Debezium skips truncates unless skipped.operations leaves out "t")';

  return (record) => {
    const recordTime = Number(record.timestamp);
    // A producer sets the timestamp; one out of range would fail the store write of the whole batch.
    if (!isEventTime(recordTime))
      return fail("INVALID_EVENT_TIME", `record timestamp ${String(record.timestamp)} is out of range`);
    if (record.value === null || record.value === undefined) {
      // A tombstone carries no value, so its id can only come from the record key.
      const fromKey = idFromKey(
        record.key,
        {
          code: "TOMBSTONE_WITHOUT_KEY",
          reason: "tombstone (null value) without a UTF-8 record key",
        },
        "TOMBSTONE_WITHOUT_KEY",
      );
      if (!("id" in fromKey)) return { ok: false, failure: fromKey };
      return checkId(fromKey.id, (valid) => checkAhead({ op: "delete", id: valid, eventTimeMs: recordTime }));
    }
    // Only a null value is a tombstone: Kafka's compaction keeps a key whose latest value is empty.
    if (record.value.length === 0)
      return fail("INVALID_JSON", "value is empty (a tombstone has a null value, not an empty one)");
    const text = decodeText(record.value);
    if (text === undefined) return fail("INVALID_JSON", "value is not valid UTF-8");
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      return fail("INVALID_JSON", `value is not JSON: ${(error as Error).message}`);
    }
    if (document === null || typeof document !== "object" || Array.isArray(document)) {
      return fail(
        "NOT_AN_OBJECT",
        `value is JSON but not an object (${document === null ? "null" : Array.isArray(document) ? "array" : typeof document})`,
      );
    }
    let id: string;
    if (keyPath !== undefined) {
      const found = idAt(keyPath, document);
      if (typeof found === "object")
        return fail(
          "INVALID_ID",
          `the entity id at ${rules.keyPath} ${found.unusable}: ids are strings or integers`,
        );
      if (found === undefined || found === "") return fail("MISSING_ID", `no entity id at ${rules.keyPath}`);
      id = found;
    } else {
      const fromKey = idFromKey(
        record.key,
        {
          code: "MISSING_ID",
          reason: `no record key to use as the entity id${isTruncate(document) ? truncateNote : ""}`,
        },
        "INVALID_ID",
      );
      if (!("id" in fromKey)) return { ok: false, failure: fromKey };
      id = fromKey.id;
    }
    let eventTimeMs = recordTime;
    if (eventTimePath !== undefined) {
      const parsed = parseEventTime(eventTimePath(document)[0]);
      if (parsed === undefined) {
        return fail(
          "INVALID_EVENT_TIME",
          `event time at ${rules.eventTimePath} is missing or not RFC 3339 / epoch milliseconds`,
        );
      }
      eventTimeMs = parsed;
    }
    const isDelete =
      deleteRule !== undefined && deleteRule.values.has(fieldText(deleteRule.path(document)) ?? "\u0000");
    return checkId(id, (valid) =>
      checkAhead(
        isDelete
          ? { op: "delete", id: valid, eventTimeMs }
          : { op: "upsert", id: valid, eventTimeMs, document },
      ),
    );
  };
}

/** "40 s", "3.5 h", "973 years": how far ahead, for people. */
function describeDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 3600) return `${Math.round(seconds)} s`;
  const hours = seconds / 3600;
  if (hours < 48) return `${Math.round(hours * 10) / 10} h`;
  const days = hours / 24;
  if (days < 730) return `${Math.round(days)} days`;
  return `${Math.round(days / 365.25)} years`;
}

function fail(code: DecodeFailureCode, reason: string): DecodeResult {
  return { ok: false, failure: { code, reason } };
}

function checkId(id: string, build: (id: string) => DecodeResult): DecodeResult {
  if (Buffer.byteLength(id) > MAX_ID_BYTES)
    return fail("INVALID_ID", `entity id is longer than ${MAX_ID_BYTES} bytes`);
  // JSON may escape a lone surrogate ("\ud800"); in the store's UTF-8 keys every one of them becomes
  // U+FFFD, so two different ids would share one record.
  if (!id.isWellFormed())
    return fail("INVALID_ID", "entity id is not well-formed Unicode (it has a lone surrogate)");
  return build(id);
}

/** The UTF-8 text of `bytes`, or undefined when they are not UTF-8. */
export function decodeText(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The id at `path`: undefined when absent or null, `unusable` saying what is there instead of an id. */
function idAt(path: CompiledJsonPath, document: unknown): string | undefined | { unusable: string } {
  const value = path(document)[0];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number") {
    if (Number.isSafeInteger(value)) return String(value);
    // JSON.parse already rounded a large one: two different ids could become one.
    return {
      unusable: Number.isInteger(value)
        ? `is the number ${value}, not a safe integer (send it as a string)`
        : `is the number ${value}`,
    };
  }
  const kind = Array.isArray(value)
    ? "an array"
    : typeof value === "object"
      ? "an object"
      : `a ${typeof value}`;
  return { unusable: `is ${kind}` };
}

/** Latest time a JavaScript Date holds (year 275760); output records carry event times as ISO strings. */
const maxEventTimeMs = 8.64e15;

/** True for epoch milliseconds the store (a safe integer) and a Date (ISO output) can both hold. */
function isEventTime(ms: number): boolean {
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= maxEventTimeMs;
}

/**
 * RFC 3339 strings and epoch milliseconds (number or digit string) from 1970 to year 275760; anything else is
 * undefined. An out-of-range time must be refused here: the store refuses to write it, and one such
 * event would otherwise fail its whole batch on every redelivery.
 */
export function parseEventTime(value: unknown): number | undefined {
  if (typeof value === "number") {
    const ms = Math.trunc(value);
    return isEventTime(ms) ? ms : undefined;
  }
  if (typeof value !== "string") return undefined;
  if (/^[0-9]{1,16}$/.test(value)) return isEventTime(Number(value)) ? Number(value) : undefined;
  const match = rfc3339.exec(value);
  if (match === null) return undefined;
  // Date.parse rolls a day or hour that does not exist over ("2026-02-30" is March 2, "T24:00" the
  // next day): a producer's bad time would become a valid other one instead of a dead letter.
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = match
    .slice(1)
    .map((part) => Number(part ?? 0));
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  if (month! < 1 || month! > 12 || day! < 1 || day! > daysInMonth) return undefined;
  if (hour! > 23 || minute! > 59 || second! > 59 || offsetHour! > 23 || offsetMinute! > 59) return undefined;
  // Before 1970 the time is negative, which the store refuses: such an event would fail its batch.
  const parsed = Date.parse(value.toUpperCase());
  return isEventTime(parsed) ? parsed : undefined;
}

/** RFC 3339 date-time: year, month, day, hour, minute, second, and the offset's hours and minutes. */
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

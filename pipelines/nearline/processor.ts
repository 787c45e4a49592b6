/**
 * One micro-batch of the nearline path: decode -> extract + prompt + hash -> change detection ->
 * embed each distinct text once -> output and dead-letter records -> conditional store writes.
 * The caller commits the batch's offsets only after `process` resolved, i.e. after every sink
 * acknowledged, so a crash at any point replays the batch (at least once); the store's "newer wins"
 * writes make the replay harmless.
 *
 * Why the output topic is written before the store: a replay decides what to write by comparing with
 * the store, and finds events that an earlier attempt stored to be stale. Had that attempt stored
 * before producing and then died (or lost the broker) before the output was acknowledged, the replay
 * would produce nothing for them and the output topic would miss changes for good. Producing first
 * means every event the store applies was acknowledged by the output topic beforehand, by the same
 * attempt; a replay after a crash between the two produces those records again (duplicates carry the
 * same key and source position, so consumers drop them).
 */
import type { RecordMeta } from "../../store/index.ts";
import {
  EMBEDDING_FAILED,
  EMBEDDING_REFUSED,
  embedIsolatingRefusals,
  failedTextReason,
  refusedTextReason,
  type IsolatedEmbeddings,
  type ServerFailurePolicy,
} from "../shared/embedding.ts";
import { createDecoder, type DecodeRules, type EntityChange } from "../shared/decode.ts";
import {
  createEntityTextRenderer,
  templateHash,
  unavailableReason,
  type EntityText,
} from "../shared/entity-text.ts";
import {
  isStale,
  readStored,
  writeEntities,
  type EntityStore,
  type EntityWrite,
  type SourcePosition,
  type WriteTarget,
} from "../shared/entity-writes.ts";
import {
  deadLetterRecord,
  outputRecord,
  type ConsumedRecord,
  type OutputRecord,
  type VectorIdentity,
} from "./records.ts";

export type { ConsumedRecord } from "./records.ts";

export interface ProcessorOptions {
  entity: string;
  modelVersion: string;
  modelDigest: string;
  template: string;
  extract: Readonly<Record<string, string>>;
  decode: DecodeRules;
  changeDetection: boolean;
  outputTopic?: string | undefined;
  deadLetterTopic?: string | undefined;
  store: EntityStore;
  embed: (texts: readonly string[]) => Promise<Float32Array[]>;
  /**
   * Whether an embed error is the server refusing the texts themselves (never retried): the refused
   * texts' events are dead-lettered (EMBEDDING_REFUSED) and the rest of the batch goes on. Unset: none is.
   */
  isRefusedInput?: (error: unknown) => boolean;
  /**
   * How the server failing a call itself (INTERNAL, UNKNOWN) is told apart from a text it cannot take
   * (`embedIsolatingRefusals`): a text the server fails alone while it answers a probe is dead-lettered
   * (EMBEDDING_FAILED); while it fails every call the batch waits, nothing dead-lettered. Unset: thrown.
   */
  serverFailures?: ServerFailurePolicy | undefined;
  produce: (records: readonly OutputRecord[]) => Promise<void>;
  /**
   * Called for every dead-lettered event, at every attempt of its batch (logs; the topic write is
   * separate), with the event's entity id (`key`) when it was decoded (undefined for a decode failure).
   */
  onDeadLetter?: (record: ConsumedRecord, code: string, reason: string, key: string | undefined) => void;
  /**
   * Awaited at each step boundary of an attempt (tests hold a batch there to inject a fault at a known
   * point; production leaves it unset).
   */
  atStep?: (step: BatchStep, batch: BatchShape) => Promise<void>;
}

/** The size of a batch attempt, as `atStep` sees it. */
export interface BatchShape {
  /** Consumed records. */
  events: number;
  /** Output and dead-letter records to produce. */
  produced: number;
  /** Store writes. */
  writes: number;
}

/**
 * Where an attempt stands: `embedded` (output not yet produced), `produced` (output acknowledged,
 * store not written), `stored` (store written; the caller commits next).
 */
export type BatchStep = "embedded" | "produced" | "stored";

/** Counts of one batch; the worker turns them into metrics and status. */
export interface BatchOutcome {
  consumed: number;
  embedded: number;
  skippedUnchanged: number;
  skippedStale: number;
  deleted: number;
  deadLettered: number;
  inferenceTexts: number;
  /** Event times of the writes that became visible (for the freshness histogram). */
  visibleEventTimesMs: number[];
  /**
   * When the store acknowledged each of those writes (epoch ms; same order): the end of its freshness.
   * A batch's writes of a later round (see refusedAdvances) are acknowledged later than its first ones.
   */
  visibleStoredAtMs: number[];
  /**
   * Dead-lettered events by reason code. The worker counts them in jude_pipeline_dead_lettered_total
   * once the batch is committed, like the other counts: an attempt that failed (and is run again) must
   * not count its dead letters, or a Redis outage would read as a producer sending bad events.
   */
  deadLetterCodes: Record<string, number>;
}

/** Dead-letters an event: `key` is its entity id, when it was decoded. */
type DeadLetter = (record: ConsumedRecord, code: string, reason: string, key?: string) => void;

/** A decoded event with its rendered text (upserts only). */
interface Planned {
  record: ConsumedRecord;
  change: EntityChange;
  text?: EntityText;
  /**
   * Later events of the batch with the same text (skipped as unchanged), in order: the store write takes
   * the last one's position, so one write leaves the key where all of them would (several writes could
   * apply out of order). When the server refuses or fails the text, they are dead-lettered with it.
   */
  repeats?: Planned[];
}

/** What the store holds for a key, as far as this batch knows. */
interface Known {
  position: SourcePosition;
  /** Content hash of a live record; null for a tombstone. */
  hash: string | null;
}

/** Builds the batch processor of one pipeline version. */
export function createProcessor(
  options: ProcessorOptions,
): (records: readonly ConsumedRecord[]) => Promise<BatchOutcome> {
  const plan = createPlanner(options);
  const target: WriteTarget = {
    entity: options.entity,
    version: options.modelVersion,
    modelDigest: options.modelDigest,
  };
  const identity: VectorIdentity = { ...target, templateHash: templateHash(options.template) };

  return async (records) => {
    const outcome: BatchOutcome = {
      ...zeroCounts(),
      consumed: records.length,
      visibleEventTimesMs: [],
      visibleStoredAtMs: [],
      deadLetterCodes: {},
    };
    let produced: OutputRecord[] = [];
    const deadLetter: DeadLetter = (record, code, reason, key) => {
      outcome.deadLettered++;
      outcome.deadLetterCodes[code] = (outcome.deadLetterCodes[code] ?? 0) + 1;
      options.onDeadLetter?.(record, code, reason, key);
      if (options.deadLetterTopic !== undefined)
        produced.push(deadLetterRecord(options.deadLetterTopic, record, code, reason, options.modelVersion));
    };

    let planned = plan(records, deadLetter);
    // What the store held for a re-round's keys when their refused advances were checked: the next
    // change detection starts from it instead of reading the same keys again.
    let read: ReadonlyMap<string, RecordMeta | null> | undefined;
    // Another writer (a bootstrap of the version writing deletes, the previous owner of a partition)
    // can tombstone or rewrite a key between change detection and the store write; the unchanged
    // events it hit are written again in full in another round, so they are not lost (see
    // refusedAdvances). Each round needs another writer to interfere again; a few are enough.
    for (let round = 0; round === 0 || (planned.length > 0 && round < MAX_ROUNDS); round++) {
      const { changed, unchanged } = await detectChanges(options, target, planned, outcome, read);
      const { vectors: vectorOf, refused, failed } = await embedDistinct(options, changed, outcome);
      const toWrite = changed.filter((item) => {
        if (item.text === undefined) return true;
        const refusal = refused.get(item.text.text);
        const failure = failed.get(item.text.text);
        const dead =
          refusal !== undefined
            ? { code: EMBEDDING_REFUSED, reason: refusedTextReason(refusal) }
            : failure !== undefined
              ? { code: EMBEDDING_FAILED, reason: failedTextReason(failure) }
              : undefined;
        if (dead === undefined) return true;
        // The events that repeat its text carry the same text the server refused: not skipped as
        // unchanged (nothing of theirs is stored), but dead-lettered beside it.
        outcome.skippedUnchanged -= item.repeats?.length ?? 0;
        for (const each of [item, ...(item.repeats ?? [])])
          deadLetter(each.record, dead.code, dead.reason, each.change.id);
        return false;
      });
      if (options.outputTopic !== undefined) {
        for (const item of toWrite) {
          const vector = item.text ? vectorOf.get(item.text.text) : undefined;
          produced.push(outputRecord(options.outputTopic, identity, item.record, item.change, vector));
        }
      }
      const step = { events: records.length, produced: produced.length, writes: toWrite.length };
      await options.atStep?.("embedded", step);
      // Output and dead-letter records first, acknowledged before anything becomes visible in the store.
      if (produced.length > 0) await options.produce(produced);
      produced = [];
      await options.atStep?.("produced", step);
      // Unchanged events are written too, as advances of the stored position after the changes (their
      // outcomes are not counted: they were counted as skipped, unless written in full in a next round).
      const outcomes = await writeEntities(options.store, target, [
        ...toWrite.map((item) => entityWrite(item, vectorOf)),
        ...unchanged.map(advanceWrite),
      ]);
      const storedAtMs = Date.now();
      await options.atStep?.("stored", step);
      toWrite.forEach((item, index) => {
        // Lost a race with another writer (bootstrap, or the previous owner of a partition during a
        // rebalance) that stored a newer position since change detection read it.
        if (outcomes[index] === "stale") {
          outcome.skippedStale++;
          return;
        }
        if (item.change.op === "delete") outcome.deleted++;
        else outcome.embedded++;
        outcome.visibleEventTimesMs.push(item.change.eventTimeMs);
        outcome.visibleStoredAtMs.push(storedAtMs);
      });
      ({ planned, read } = await refusedAdvances(options, target, unchanged, outcomes.slice(toWrite.length)));
      outcome.skippedUnchanged -= planned.length;
    }
    // Refused in every round: the key may stay deleted (or keep an older text) though this event is its
    // newest. Dead-lettered, not dropped: logged, counted, and on the dead-letter topic to be replayed.
    for (const item of planned)
      deadLetter(item.record, WRITE_CONTENDED, contendedReason(item), item.change.id);
    if (produced.length > 0) await options.produce(produced);
    return outcome;
  };
}

/** Counts of nothing yet: a batch's start, and the worker's totals at start. */
export function zeroCounts(): Omit<
  BatchOutcome,
  "visibleEventTimesMs" | "visibleStoredAtMs" | "deadLetterCodes"
> {
  return {
    consumed: 0,
    embedded: 0,
    skippedUnchanged: 0,
    skippedStale: 0,
    deleted: 0,
    deadLettered: 0,
    inferenceTexts: 0,
  };
}

/** Step 1, decode and render: undecodable events and events without any field are dead-lettered. */
function createPlanner(
  options: ProcessorOptions,
): (records: readonly ConsumedRecord[], deadLetter: DeadLetter) => Planned[] {
  const decode = createDecoder(options.decode);
  const render = createEntityTextRenderer({
    extract: options.extract,
    template: options.template,
    modelVersion: options.modelVersion,
  });
  const fieldNames = Object.keys(options.extract);
  // The text of an entity with none of its fields: an event that renders to it carries no content.
  const emptyText = render({}).text;
  return (records, deadLetter) => {
    const planned: Planned[] = [];
    for (const record of records) {
      const decoded = decode(record);
      if (!decoded.ok) {
        deadLetter(record, decoded.failure.code, decoded.failure.reason);
      } else if (decoded.change.op === "delete") {
        planned.push({ record, change: decoded.change });
      } else {
        const text = render(decoded.change.document as Record<string, unknown>);
        const key = decoded.change.id;
        if (text.text === emptyText)
          deadLetter(
            record,
            "NO_FIELDS",
            `none of the extracted fields (${fieldNames.join(", ")}) is present`,
            key,
          );
        else if (text.unavailable.length > 0)
          deadLetter(record, "UNAVAILABLE_VALUE", unavailableReason(text.unavailable), key);
        else planned.push({ record, change: decoded.change, text });
      }
    }
    return planned;
  };
}

/**
 * Step 2, change detection against the stored metadata, walking each key's events in order so a
 * create followed by a no-op update inside one batch still counts the update as skipped. An unchanged
 * event is newer than what is stored all the same: its position is kept (`unchanged`, written as an
 * advance), so that a late event between the two loses instead of replacing the newest text.
 */
async function detectChanges(
  options: ProcessorOptions,
  target: WriteTarget,
  planned: readonly Planned[],
  outcome: BatchOutcome,
  read: ReadonlyMap<string, RecordMeta | null> | undefined,
): Promise<{ changed: Planned[]; unchanged: Planned[] }> {
  const keys = [...new Set(planned.map((item) => item.change.id))];
  const stored =
    read !== undefined
      ? keys.map((id) => read.get(id) ?? null)
      : await readStored(options.store, target, keys);
  const latest = new Map<string, Known>();
  keys.forEach((id, index) => {
    const meta = stored[index];
    if (meta) latest.set(id, knownOf(meta));
  });
  const toWrite: Planned[] = [];
  const unchanged = new Map<string, Planned>();
  // Per key, the batch's change that `latest` describes (none while it describes the stored record).
  const pending = new Map<string, Planned>();
  for (const item of planned) {
    const position = {
      eventTimeMs: item.change.eventTimeMs,
      partition: item.record.partition,
      offset: Number(item.record.offset),
    };
    const known = latest.get(item.change.id);
    if (isStale(position, known?.position)) {
      outcome.skippedStale++; // an equal or newer event is already stored: a replay or a late event
      continue;
    }
    const hash = item.text?.hash ?? null;
    latest.set(item.change.id, { position, hash });
    if (options.changeDetection && hash !== null && known !== undefined && known.hash === hash) {
      outcome.skippedUnchanged++;
      // The last unchanged event of a key in the batch is the one whose position matters.
      const change = pending.get(item.change.id);
      if (change !== undefined) (change.repeats ??= []).push(item);
      else unchanged.set(item.change.id, item);
      continue;
    }
    unchanged.delete(item.change.id);
    pending.set(item.change.id, item);
    toWrite.push(item);
  }
  return { changed: toWrite, unchanged: [...unchanged.values()] };
}

function knownOf(meta: RecordMeta): Known {
  return {
    position: { eventTimeMs: meta.eventTimeMs, partition: meta.partition, offset: meta.offset },
    hash: meta.live ? meta.contentHash : null,
  };
}

/** Step 3, embed each distinct text once; returns text -> vector. */
async function embedDistinct(
  options: ProcessorOptions,
  toWrite: readonly Planned[],
  outcome: BatchOutcome,
): Promise<IsolatedEmbeddings> {
  const distinct = [...new Set(toWrite.flatMap((item) => (item.text ? [item.text.text] : [])))];
  outcome.inferenceTexts += distinct.length;
  return embedIsolatingRefusals(options.embed, distinct, {
    isRefused: options.isRefusedInput ?? (() => false),
    serverFailures: options.serverFailures,
  });
}

/** Rounds of one batch: the first, and those that write in full what another writer's race refused. */
const MAX_ROUNDS = 4;

/** The dead-letter code of an event whose store write other writers refused in every round. */
export const WRITE_CONTENDED = "WRITE_CONTENDED";

function contendedReason(item: Planned): string {
  return (
    `the store refused the write of key ${item.change.id} in each of ${MAX_ROUNDS} rounds: another writer ` +
    "(a bootstrap of the version, the previous owner of a partition) tombstoned it or stored another " +
    "text at an older position between change detection and the write each time; nothing at this " +
    "event's position or newer is stored"
  );
}

/**
 * The unchanged events whose advance the store refused although nothing at their position or newer is
 * stored: another writer tombstoned the key or stored another text, at an older position, after change
 * detection read it (a bootstrap of the version writes a delete from a partition added later, say).
 * The event is still the key's newest: it must be written in full, or the key stays deleted (or keeps
 * the other text) though its newest event says otherwise.
 *
 * What this read finds is also the next round's change detection (`read`): reading again could only
 * find a later write of another writer, and the store's conditional write decides against that one
 * the same (an event another writer overtook meanwhile is written in full and refused as stale, as
 * it would be had change detection seen it: counted stale either way).
 */
async function refusedAdvances(
  options: ProcessorOptions,
  target: WriteTarget,
  unchanged: readonly Planned[],
  outcomes: readonly string[],
): Promise<{ planned: Planned[]; read: Map<string, RecordMeta | null> }> {
  const refused = unchanged.filter((_, index) => outcomes[index] === "stale");
  if (refused.length === 0) return { planned: [], read: new Map() };
  const ids = refused.map((item) => item.change.id);
  const stored = await readStored(options.store, target, ids);
  return {
    planned: refused.filter((item, index) => !isStale(positionOf(item), stored[index])),
    read: new Map(ids.map((id, index) => [id, stored[index] ?? null])),
  };
}

function positionOf(item: Planned): SourcePosition {
  return {
    eventTimeMs: item.change.eventTimeMs,
    partition: item.record.partition,
    offset: Number(item.record.offset),
  };
}

/** The position-only store write of an unchanged upsert. */
function advanceWrite(item: Planned): EntityWrite {
  return {
    id: item.change.id,
    eventTimeMs: item.change.eventTimeMs,
    offset: Number(item.record.offset),
    partition: item.record.partition,
    op: "advance",
    contentHash: item.text!.hash,
  };
}

/** Step 4's input: the store write of a planned event (the store resolves races with other writers). */
function entityWrite(item: Planned, vectorOf: ReadonlyMap<string, Float32Array>): EntityWrite {
  const at = item.repeats?.at(-1) ?? item;
  const position = {
    id: item.change.id,
    eventTimeMs: at.change.eventTimeMs,
    offset: Number(at.record.offset),
    partition: at.record.partition,
  };
  if (item.change.op === "delete") return { ...position, op: "delete" };
  return { ...position, op: "upsert", vector: vectorOf.get(item.text!.text)!, contentHash: item.text!.hash };
}

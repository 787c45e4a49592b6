/**
 * One micro-batch of the nearline path: decode -> extract + prompt + hash -> change detection ->
 * embed each distinct text once -> conditional store writes -> output and dead-letter records.
 * The caller commits the batch's offsets only after `process` resolved, i.e. after every sink
 * acknowledged, so a crash at any point replays the batch (at least once) and nothing is lost; the
 * store's "newer wins" writes make the replay harmless.
 */
import type { RecordMeta, StoreWrite, WriteOutcome } from "../../store/index.ts";
import { comparePositions } from "../../store/index.ts";
import { createDecoder, type DecodeRules, type EntityChange, type SourceRecord } from "../shared/decode.ts";
import { createEntityTextRenderer, templateHash, type EntityText } from "../shared/entity-text.ts";
import { deadLetterRecord, outputRecord, type OutputRecord } from "./records.ts";

/** A consumed Kafka record. */
export interface ConsumedRecord extends SourceRecord {
  topic: string;
}

/** The store operations the processor needs (StoreWriter implements them). */
export interface ChangeStore {
  readMeta(version: string, keys: readonly { entity: string; id: string }[]): Promise<(RecordMeta | null)[]>;
  write(writes: readonly StoreWrite[]): Promise<WriteOutcome[]>;
}

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
  store: ChangeStore;
  embed: (texts: readonly string[]) => Promise<Float32Array[]>;
  produce: (records: readonly OutputRecord[]) => Promise<void>;
  /** Called for every dead-lettered event (logs and metrics; the topic write is separate). */
  onDeadLetter?: (record: ConsumedRecord, code: string, reason: string) => void;
}

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
}

interface Planned {
  record: ConsumedRecord;
  change: EntityChange;
  text?: EntityText;
}

/** Builds the batch processor of one pipeline version. */
export function createProcessor(
  options: ProcessorOptions,
): (records: readonly ConsumedRecord[]) => Promise<BatchOutcome> {
  const decode = createDecoder(options.decode);
  const render = createEntityTextRenderer({
    extract: options.extract,
    template: options.template,
    modelVersion: options.modelVersion,
  });
  const fieldNames = Object.keys(options.extract);
  // The text of an entity with none of its fields: an event that renders to it carries no content.
  const emptyText = render({}).text;
  const identity = {
    entity: options.entity,
    version: options.modelVersion,
    modelDigest: options.modelDigest,
    templateHash: templateHash(options.template),
  };

  return async (records) => {
    const outcome: BatchOutcome = {
      consumed: records.length,
      embedded: 0,
      skippedUnchanged: 0,
      skippedStale: 0,
      deleted: 0,
      deadLettered: 0,
      inferenceTexts: 0,
      visibleEventTimesMs: [],
    };
    const produced: OutputRecord[] = [];
    const deadLetter = (record: ConsumedRecord, code: string, reason: string): void => {
      outcome.deadLettered++;
      options.onDeadLetter?.(record, code, reason);
      if (options.deadLetterTopic !== undefined)
        produced.push(deadLetterRecord(options.deadLetterTopic, record, code, reason));
    };

    // 1. Decode and render.
    const planned: Planned[] = [];
    for (const record of records) {
      const decoded = decode(record);
      if (!decoded.ok) {
        deadLetter(record, decoded.failure.code, decoded.failure.reason);
        continue;
      }
      if (decoded.change.op === "delete") {
        planned.push({ record, change: decoded.change });
        continue;
      }
      const document = decoded.change.document as Record<string, unknown>;
      const text = render(document);
      if (text.text === emptyText) {
        deadLetter(record, "NO_FIELDS", `none of the extracted fields (${fieldNames.join(", ")}) is present`);
        continue;
      }
      planned.push({ record, change: decoded.change, text });
    }

    // 2. Change detection against the stored metadata, walking each key's events in order so a
    //    create followed by a no-op update inside one batch still counts the update as skipped.
    const keys = [...new Set(planned.map((item) => item.change.id))];
    const stored =
      keys.length > 0
        ? await options.store.readMeta(
            options.modelVersion,
            keys.map((id) => ({ entity: options.entity, id })),
          )
        : [];
    const latest = new Map<
      string,
      { position: { eventTimeMs: number; offset: number }; hash: string | null }
    >();
    keys.forEach((id, index) => {
      const meta = stored[index];
      if (meta)
        latest.set(id, {
          position: { eventTimeMs: meta.eventTimeMs, offset: meta.offset },
          hash: meta.live ? meta.contentHash : null,
        });
    });
    const toWrite: Planned[] = [];
    for (const item of planned) {
      const position = { eventTimeMs: item.change.eventTimeMs, offset: Number(item.record.offset) };
      const known = latest.get(item.change.id);
      if (known !== undefined && comparePositions(position, known.position) <= 0) {
        outcome.skippedStale++; // an equal or newer event is already stored: a replay or a late event
        continue;
      }
      const hash = item.text?.hash ?? null;
      if (options.changeDetection && hash !== null && known !== undefined && known.hash === hash) {
        outcome.skippedUnchanged++;
        continue;
      }
      latest.set(item.change.id, { position, hash });
      toWrite.push(item);
    }

    // 3. Embed each distinct text once.
    const distinct = [...new Set(toWrite.flatMap((item) => (item.text ? [item.text.text] : [])))];
    const vectors = distinct.length > 0 ? await options.embed(distinct) : [];
    outcome.inferenceTexts = distinct.length;
    const vectorOf = new Map(distinct.map((text, index) => [text, vectors[index]!]));

    // 4. Conditional writes; the store resolves any race with other writers.
    const writes: StoreWrite[] = toWrite.map(({ record, change, text }) => {
      const base = {
        entity: options.entity,
        id: change.id,
        version: options.modelVersion,
        eventTimeMs: change.eventTimeMs,
        offset: Number(record.offset),
        partition: record.partition,
      };
      return change.op === "delete"
        ? { ...base, kind: "delete" as const }
        : {
            ...base,
            kind: "upsert" as const,
            vector: vectorOf.get(text!.text)!,
            modelDigest: options.modelDigest,
            contentHash: text!.hash,
          };
    });
    const outcomes = writes.length > 0 ? await options.store.write(writes) : [];
    toWrite.forEach((item, index) => {
      const result = outcomes[index];
      if (result === "stale") {
        outcome.skippedStale++;
        return;
      }
      if (item.change.op === "delete") outcome.deleted++;
      else outcome.embedded++;
      outcome.visibleEventTimesMs.push(item.change.eventTimeMs);
      if (options.outputTopic !== undefined) {
        produced.push(
          outputRecord(
            options.outputTopic,
            identity,
            item.record,
            item.change,
            item.text ? vectorOf.get(item.text.text) : undefined,
          ),
        );
      }
    });

    // 5. Output and dead-letter records, acknowledged before the caller commits.
    if (produced.length > 0) await options.produce(produced);
    return outcome;
  };
}

/**
 * A shard's work comes in units — a Kafka partition or a file — and each unit yields batches of
 * entities, each with the unit position to checkpoint once the batch is written. Positions only move
 * forward and a batch's position covers everything before it, so committing batches in order gives a
 * resumable cursor per unit.
 */
import type { DecodeResult, SourceRecord } from "../shared/decode.ts";
import { unavailableReason, type EntityText, type RenderedText } from "../shared/entity-text.ts";
import type { BatchEntity } from "./entity-batch.ts";
import type { ShardCounts, UnitPosition } from "./checkpoint-codec.ts";
import { maxLineBytes, type SourceLine } from "./jsonl-source.ts";
import { SnapshotTable } from "./snapshot-table.ts";

/** A batch of one unit and where the unit stands once it is written. */
export interface UnitBatch {
  readonly entities: BatchEntity[];
  /** The unit's position after this batch. */
  readonly position: number;
  /** True on the unit's last batch. */
  readonly done: boolean;
  /** Counts known without writing (records finished, decode failures, deletes, skips). */
  readonly counts: Partial<ShardCounts>;
  /** Why records counted `failed` here were not written (at most MAX_FAILURES_PER_BATCH; absent: none). */
  readonly failures?: RecordFailure[];
  /** `counts.failed` of this batch by code (every one, not only those described in `failures`). */
  readonly failedCodes?: Record<string, number>;
}

/** A record that is not written, and why: what the shard logs (the checkpoint keeps only the count). */
export interface RecordFailure {
  /** A decode failure code (pipelines/shared/decode.ts), NO_FIELDS or UNAVAILABLE_VALUE, as nearline dead-letters them. */
  readonly code: string;
  readonly reason: string;
  /** Where the record is: its Kafka partition and offset, or the byte position its file line ends at. */
  readonly partition?: number;
  readonly offset?: number;
  readonly lineEnd?: number;
  /** The entity id, when the record had one. */
  readonly id?: string;
}

/** Failures a batch describes one by one; the rest are only counted. */
export const MAX_FAILURES_PER_BATCH = 20;

const noFields = "none of the extracted fields is present";

/** Turns a source record into what the snapshot needs; shared by both unit kinds. */
export interface RecordInterpreter {
  decode: (record: SourceRecord) => DecodeResult;
  render: (document: unknown) => RenderedText;
  /** The text of a document with none of the extracted fields. */
  emptyText: string;
  /**
   * Scope and shard ownership of a key's latest state (`op`: its latest record's, default upsert);
   * false means the entity is left out (counted as skipped). A delete after the scope's eventTimeTo
   * is kept (see createInterpreter).
   */
  keep: (id: string, eventTimeMs: number, op?: "upsert" | "delete") => boolean;
  /**
   * Whether this shard owns the entity. False only under the `id` file split, for another shard's
   * entities: every shard reads every line, and a line counts (processed, skipped) on its owner's
   * shard alone, so the run's status adds the shards up to the lines in the files.
   */
  owns: (id: string) => boolean;
  /**
   * Whether this shard counts the records it cannot decode. False on all shards but 0 under the `id`
   * file split: every shard reads every line, and a line without a readable id belongs to none, so
   * each one would otherwise be counted (and reported in the run's status) once per shard.
   */
  countsUndecodable: boolean;
}

/** The text of a document, or why it has none that may be embedded (as nearline dead-letters it). */
function textOf(
  interpreter: RecordInterpreter,
  document: unknown,
): { text: EntityText } | { failure: { code: string; reason: string } } {
  const text = interpreter.render(document);
  if (text.text === interpreter.emptyText) return { failure: { code: "NO_FIELDS", reason: noFields } };
  if (text.unavailable.length > 0)
    return { failure: { code: "UNAVAILABLE_VALUE", reason: unavailableReason(text.unavailable) } };
  return { text: { text: text.text, hash: text.hash } };
}

/**
 * Batches of a Kafka partition: replays it from the unit start to its end (the watermark) into a
 * snapshot table, then yields each key's latest record after the checkpointed position in offset
 * order: live keys as upserts, deleted keys as deletes, which are written as conditional tombstones
 * (the key's update may be on another partition: snapshot-table.ts). Counts of the replay itself ride
 * on the last batch, because a resumed shard replays the whole partition again.
 */
export async function* kafkaPartitionBatches(
  records: AsyncIterable<SourceRecord[]>,
  unit: UnitPosition,
  interpreter: RecordInterpreter,
  maxEntities: number,
): AsyncGenerator<UnitBatch> {
  const table = new SnapshotTable();
  let failed = 0;
  const failedCodes: Record<string, number> = {};
  const unwritable: RecordFailure[] = [];
  const fail = (record: SourceRecord, failure: Omit<RecordFailure, "partition" | "offset">): void => {
    failed++;
    failedCodes[failure.code] = (failedCodes[failure.code] ?? 0) + 1;
    if (unwritable.length < MAX_FAILURES_PER_BATCH)
      unwritable.push({ ...failure, partition: record.partition, offset: Number(record.offset) });
  };
  for await (const chunk of records) {
    for (const record of chunk) {
      const decoded = interpreter.decode(record);
      if (!decoded.ok) {
        fail(record, decoded.failure);
        continue;
      }
      const { change } = decoded;
      if (change.op === "delete") {
        table.delete(change.id, {
          eventTimeMs: change.eventTimeMs,
          partition: record.partition,
          offset: Number(record.offset),
        });
        continue;
      }
      const rendered = textOf(interpreter, change.document);
      // Like a record that cannot be decoded, and as nearline dead-letters it, a record with none of
      // the extracted fields changes nothing: the key keeps its last text (or stays deleted or absent).
      // Entering it into the table would replace that text and leave the key out of the version.
      // Out of scope it is not even reported: a run restricted to a few ids would otherwise count the
      // whole topic's such records failed.
      if ("failure" in rendered) {
        if (interpreter.keep(change.id, change.eventTimeMs))
          fail(record, { ...rendered.failure, id: change.id });
        continue;
      }
      table.upsert({
        id: change.id,
        partition: record.partition,
        offset: Number(record.offset),
        eventTimeMs: change.eventTimeMs,
        text: rendered.text,
      });
    }
  }
  const end = unit.end ?? unit.position;
  const changes = table.changesAfter(unit.position - 1);
  const kept = changes.filter((change) => interpreter.keep(change.id, change.eventTimeMs, change.op));
  // Like `failed`, `skipped` covers the whole partition: it rides on the last batch, which a resumed
  // shard has never committed, so keys left out before the checkpointed position were never counted
  // either. (`deleted` is counted by the batch writer, from the tombstones it writes.)
  const skipped = table
    .changesAfter(-1)
    .filter((change) => !interpreter.keep(change.id, change.eventTimeMs, change.op)).length;
  let position = unit.position;
  for (let start = 0; start < kept.length || start === 0; start += maxEntities) {
    const slice = kept.slice(start, start + maxEntities);
    const last = start + maxEntities >= kept.length;
    const next = last ? end : slice[slice.length - 1]!.offset + 1;
    // Records not written (undecodable, or without any extracted field) ride on the last batch with
    // their count, which covers the whole partition like `skipped`.
    const failures = last ? unwritable : [];
    yield {
      entities: slice,
      position: next,
      done: last,
      counts: {
        processed: next - position,
        ...(last ? { failed, skipped } : {}),
      },
      ...(failures.length > 0 ? { failures } : {}),
      ...(last && failed > 0 ? { failedCodes } : {}),
    };
    position = next;
  }
}

/**
 * Batches of a JSON-lines file from the checkpointed byte position. Rows have no Kafka position: they
 * are written at (event time from decode.eventTimePath, else 0; offset 0), so anything nearline wrote
 * is newer. Delete rows are written as conditional tombstones.
 */
export async function* fileBatches(
  lines: AsyncIterable<SourceLine[]>,
  unit: UnitPosition,
  interpreter: RecordInterpreter,
  maxEntities: number,
): AsyncGenerator<UnitBatch> {
  let entities: BatchEntity[] = [];
  let counts = { processed: 0, failed: 0, skipped: 0 };
  let failures: RecordFailure[] = [];
  let failedCodes: Record<string, number> = {};
  let position = unit.position;
  const flush = (done: boolean): UnitBatch => {
    const batch = {
      entities,
      position,
      done,
      counts,
      ...(failures.length > 0 ? { failures } : {}),
      ...(counts.failed > 0 ? { failedCodes } : {}),
    };
    entities = [];
    counts = { processed: 0, failed: 0, skipped: 0 };
    failures = [];
    failedCodes = {};
    return batch;
  };
  // `counted`: the record is counted failed here; otherwise the batch writer counts it (an entity
  // without text, which carries its code).
  const fail = (failure: RecordFailure, counted = true): void => {
    if (counted) failedCodes[failure.code] = (failedCodes[failure.code] ?? 0) + 1;
    if (failures.length < MAX_FAILURES_PER_BATCH) failures.push(failure);
  };
  for await (const chunk of lines) {
    for (const line of chunk) {
      position = line.end;
      if (line.tooLong !== undefined) {
        if (interpreter.countsUndecodable) {
          counts.processed++;
          counts.failed++;
          fail({
            code: "LINE_TOO_LONG",
            reason: `a line of ${line.tooLong} bytes is longer than ${maxLineBytes} (files must be JSON Lines: one record per line)`,
            lineEnd: line.end,
          });
        }
        continue;
      }
      const decoded = interpreter.decode({
        key: null,
        value: line.value,
        timestamp: 0,
        partition: -1,
        offset: 0n,
      });
      if (!decoded.ok) {
        if (interpreter.countsUndecodable) {
          counts.processed++;
          counts.failed++;
          fail({ ...decoded.failure, lineEnd: line.end });
        }
      } else if (!interpreter.owns(decoded.change.id))
        continue; // another shard's: counted there
      else if (!interpreter.keep(decoded.change.id, decoded.change.eventTimeMs, decoded.change.op)) {
        counts.processed++;
        counts.skipped++;
      } else {
        counts.processed++;
        const { change } = decoded;
        const rendered = change.op === "upsert" ? textOf(interpreter, change.document) : null;
        // Counted failed by the batch writer, which writes only deletes and upserts with text.
        if (rendered !== null && "failure" in rendered)
          fail({ ...rendered.failure, lineEnd: line.end, id: change.id }, false);
        entities.push({
          id: change.id,
          op: change.op,
          eventTimeMs: change.eventTimeMs,
          offset: 0,
          partition: -1,
          text: rendered !== null && "text" in rendered ? rendered.text : null,
          ...(rendered !== null && "failure" in rendered ? { failedCode: rendered.failure.code } : {}),
        });
        if (entities.length >= maxEntities) yield flush(false);
      }
    }
  }
  if (unit.end !== undefined) position = Math.max(position, unit.end);
  yield flush(true);
}

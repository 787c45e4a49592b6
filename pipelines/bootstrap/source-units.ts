/**
 * A shard's work comes in units — a Kafka partition or a file — and each unit yields batches of
 * entities, each with the unit position to checkpoint once the batch is written. Positions only move
 * forward and a batch's position covers everything before it, so committing batches in order gives a
 * resumable cursor per unit.
 */
import type { DecodeResult, SourceRecord } from "../shared/decode.ts";
import type { EntityText } from "../shared/entity-text.ts";
import type { BatchEntity } from "./entity-batch.ts";
import type { ShardCounts, UnitPosition } from "./checkpoint-codec.ts";
import type { SourceLine } from "./jsonl-source.ts";
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
}

/** Turns a source record into what the snapshot needs; shared by both unit kinds. */
export interface RecordInterpreter {
  decode: (record: SourceRecord) => DecodeResult;
  render: (document: unknown) => EntityText;
  /** The text of a document with none of the extracted fields. */
  emptyText: string;
  /** Scope and shard ownership; false means the entity is left out (counted as skipped). */
  keep: (id: string, eventTimeMs: number) => boolean;
}

function textOf(interpreter: RecordInterpreter, document: unknown): EntityText | null {
  const text = interpreter.render(document);
  return text.text === interpreter.emptyText ? null : text;
}

/**
 * Batches of a Kafka partition: replays it from the unit start to its end (the watermark) into a
 * snapshot table, then yields the live keys after the checkpointed position in offset order. Counts of
 * the replay itself ride on the last batch, because a resumed shard replays the whole partition again.
 */
export async function* kafkaPartitionBatches(
  records: AsyncIterable<SourceRecord[]>,
  unit: UnitPosition,
  interpreter: RecordInterpreter,
  maxEntities: number,
): AsyncGenerator<UnitBatch> {
  const table = new SnapshotTable();
  let failed = 0;
  for await (const chunk of records) {
    for (const record of chunk) {
      const decoded = interpreter.decode(record);
      if (!decoded.ok) {
        failed++;
        continue;
      }
      const { change } = decoded;
      if (change.op === "delete") table.delete(change.id);
      else
        table.upsert({
          id: change.id,
          partition: record.partition,
          offset: Number(record.offset),
          eventTimeMs: change.eventTimeMs,
          text: textOf(interpreter, change.document),
        });
    }
  }
  const end = unit.end ?? unit.position;
  const entries = table.entriesAfter(unit.position - 1);
  const kept = entries.filter((entry) => interpreter.keep(entry.id, entry.eventTimeMs));
  // Like `failed` and `deleted`, `skipped` covers the whole partition: it rides on the last batch,
  // which a resumed shard has never committed, so entries left out before the checkpointed position
  // were never counted either.
  const skipped = table
    .entriesAfter(-1)
    .filter((entry) => !interpreter.keep(entry.id, entry.eventTimeMs)).length;
  let position = unit.position;
  for (let start = 0; start < kept.length || start === 0; start += maxEntities) {
    const slice = kept.slice(start, start + maxEntities);
    const last = start + maxEntities >= kept.length;
    const next = last ? end : slice[slice.length - 1]!.offset + 1;
    yield {
      entities: slice.map((entry) => ({ ...entry, op: "upsert" as const })),
      position: next,
      done: last,
      counts: {
        processed: next - position,
        ...(last ? { failed, deleted: table.counts.dropped, skipped } : {}),
      },
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
  let position = unit.position;
  const flush = (done: boolean): UnitBatch => {
    const batch = { entities, position, done, counts };
    entities = [];
    counts = { processed: 0, failed: 0, skipped: 0 };
    return batch;
  };
  for await (const chunk of lines) {
    for (const line of chunk) {
      position = line.end;
      counts.processed++;
      const decoded = interpreter.decode({
        key: null,
        value: line.value,
        timestamp: 0,
        partition: -1,
        offset: 0n,
      });
      if (!decoded.ok) counts.failed++;
      else if (!interpreter.keep(decoded.change.id, decoded.change.eventTimeMs)) counts.skipped++;
      else {
        const { change } = decoded;
        entities.push({
          id: change.id,
          op: change.op,
          eventTimeMs: change.eventTimeMs,
          offset: 0,
          partition: -1,
          text: change.op === "upsert" ? textOf(interpreter, change.document) : null,
        });
        if (entities.length >= maxEntities) yield flush(false);
      }
    }
  }
  if (unit.end !== undefined) position = Math.max(position, unit.end);
  yield flush(true);
}

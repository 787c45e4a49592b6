/**
 * read_committed filtering of raw Kafka fetch responses. A read_committed fetch returns every record
 * below the last stable offset, the aborted ones too, with a list of the aborted transactions (producer
 * id, first offset) that overlap it; the client must drop a listed producer's batches from the
 * transaction's first offset up to its abort marker. The Kafka client (@platformatic/kafka) drops them
 * only when the abort marker is in the same response, and keeps only one transaction per producer: a
 * transaction larger than one fetch, or one across a log segment roll (a fetch reads one segment), was
 * read as committed up to the cut.
 */
import type { Consumer, RecordsBatch } from "@platformatic/kafka";

/** A raw Fetch response as the client returns it (the package does not export the type by name). */
export type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>;
export type FetchResponsePartition = FetchResponse["responses"][number]["partitions"][number];

/** IS_CONTROL bit of a record batch's attributes (transaction markers carry no data). */
export const CONTROL_BATCH = 0x20;
/** Type of a control record (its key: int16 version, int16 type) that marks a transaction aborted. */
const ABORT_MARKER = 0;

/** Aborted transactions whose marker has not been read yet: first offsets per producer id. */
export class AbortedTransactions {
  readonly #open = new Map<bigint, bigint[]>();

  /** A fetch response lists the transaction. */
  add(producerId: bigint, firstOffset: bigint): void {
    const starts = this.#open.get(producerId) ?? [];
    if (starts.includes(firstOffset)) return;
    starts.push(firstOffset);
    starts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.#open.set(producerId, starts);
  }

  /** The producer's abort marker at `offset` ends its transaction that started before it. */
  close(producerId: bigint, offset: bigint): void {
    const starts = this.#open.get(producerId);
    if (starts?.[0] === undefined || starts[0] > offset) return;
    starts.shift();
    if (starts.length === 0) this.#open.delete(producerId);
  }

  /** Whether a data batch of the producer at `offset` belongs to an aborted transaction. */
  covers(producerId: bigint, offset: bigint): boolean {
    const first = this.#open.get(producerId)?.[0];
    return first !== undefined && first <= offset;
  }
}

/** Whether a batch is a transaction's abort marker. */
function isAbortMarker(batch: RecordsBatch): boolean {
  return (batch.attributes & CONTROL_BATCH) !== 0 && batch.records[0]?.key?.readInt16BE(2) === ABORT_MARKER;
}

/**
 * Empties, in place, the batches of one partition's fetch response that belong to an aborted
 * transaction. The batches stay, only their records go, so a reader still moves its position past them
 * (an empty response tail would be fetched again forever). The broker lists in every response each
 * aborted transaction that overlaps it, also one whose marker lies beyond it (a later response starting
 * inside the transaction lists it again), so a response carries all it takes to filter itself, as
 * Kafka's Java consumer does; nothing is kept across responses, so a reader that seeks (a rebalance, a
 * reopened stream) cannot carry an open range from elsewhere in the log.
 */
export function dropAbortedRecords(partition: FetchResponsePartition): void {
  if (!partition.abortedTransactions?.length || !partition.records) return;
  const aborted = new AbortedTransactions();
  for (const each of partition.abortedTransactions) aborted.add(each.producerId, each.firstOffset);
  partition.records = partition.records.map((batch) => {
    if (isAbortMarker(batch)) aborted.close(batch.producerId, batch.firstOffset);
    else if ((batch.attributes & CONTROL_BATCH) === 0 && aborted.covers(batch.producerId, batch.firstOffset))
      return { ...batch, records: [] };
    return batch;
  });
}

import type { RecordsBatch } from "@platformatic/kafka";
import { describe, expect, it } from "vitest";
import {
  AbortedTransactions,
  CONTROL_BATCH,
  dropAbortedRecords,
  type FetchResponsePartition,
} from "./aborted-transactions.ts";

describe("AbortedTransactions", () => {
  it("covers a producer's batches from an aborted transaction's start until its abort marker", () => {
    const aborted = new AbortedTransactions();
    aborted.add(7n, 10n);
    // Listed twice: still one range.
    aborted.add(7n, 10n);
    expect(aborted.covers(7n, 9n)).toBe(false);
    expect(aborted.covers(7n, 10n)).toBe(true);
    expect(aborted.covers(7n, 500n)).toBe(true);
    expect(aborted.covers(8n, 500n)).toBe(false); // another producer's records are committed
    aborted.close(7n, 600n);
    expect(aborted.covers(7n, 601n)).toBe(false);
  });

  it("closes one transaction per marker when a producer aborted several", () => {
    const aborted = new AbortedTransactions();
    aborted.add(7n, 30n);
    aborted.add(7n, 10n);
    aborted.close(7n, 5n); // a marker before the range (of an earlier transaction): no effect
    expect(aborted.covers(7n, 12n)).toBe(true);
    aborted.close(7n, 20n);
    expect(aborted.covers(7n, 25n)).toBe(false);
    expect(aborted.covers(7n, 31n)).toBe(true);
    aborted.close(7n, 40n);
    expect(aborted.covers(7n, 41n)).toBe(false);
  });
});

/** A data batch of one record, or a transaction marker (control record key: version, type). */
function batch(producerId: bigint, offset: bigint, marker?: "abort" | "commit"): RecordsBatch {
  const key = Buffer.alloc(4);
  key.writeInt16BE(marker === "commit" ? 1 : 0, 2);
  return {
    firstOffset: offset,
    lastOffsetDelta: 0,
    producerId,
    attributes: marker === undefined ? 0 : CONTROL_BATCH,
    records: [{ offsetDelta: 0, key: marker === undefined ? Buffer.from(`k${offset}`) : key, value: null }],
  } as unknown as RecordsBatch;
}

/** Per batch of the filtered response: its offset and how many records it kept. */
function filtered(partition: Partial<FetchResponsePartition>): [bigint, number][] {
  const response = { partitionIndex: 0, ...partition } as FetchResponsePartition;
  dropAbortedRecords(response);
  return (response.records ?? []).map((each) => [each.firstOffset, each.records.length]);
}

describe("dropAbortedRecords", () => {
  it("empties an aborted transaction's batches whose abort marker is beyond the response", () => {
    // A fetch that ends inside the transaction (a segment roll or the fetch size cut it): the batches
    // stay, emptied, so the reader's position moves past them; another producer's batch is kept.
    expect(
      filtered({
        abortedTransactions: [{ producerId: 7n, firstOffset: 0n }],
        records: [batch(7n, 0n), batch(8n, 1n), batch(7n, 2n)],
      }),
    ).toEqual([
      [0n, 0],
      [1n, 1],
      [2n, 0],
    ]);
  });

  it("keeps a producer's committed transaction after its abort marker, and drops each aborted one", () => {
    expect(
      filtered({
        abortedTransactions: [
          { producerId: 7n, firstOffset: 0n },
          { producerId: 7n, firstOffset: 4n },
        ],
        records: [
          batch(7n, 0n),
          batch(7n, 1n, "abort"),
          batch(7n, 2n),
          batch(7n, 3n, "commit"),
          batch(7n, 4n),
          batch(7n, 5n, "abort"),
        ],
      }),
    ).toEqual([
      [0n, 0],
      [1n, 1],
      [2n, 1],
      [3n, 1],
      [4n, 0],
      [5n, 1],
    ]);
  });

  it("leaves a response without aborted transactions as it is", () => {
    const records = [batch(7n, 0n), batch(7n, 1n, "commit")];
    expect(filtered({ abortedTransactions: null, records })).toEqual([
      [0n, 1],
      [1n, 1],
    ]);
  });
});

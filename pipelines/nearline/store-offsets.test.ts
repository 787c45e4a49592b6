import { describe, expect, it } from "vitest";
import type { SourceOffsetMarks } from "../../store/index.ts";
import { planReplays, storeLost, StoreOffsetLedger, type PartitionOffsets } from "./store-offsets.ts";

const partition = (fields: Partial<PartitionOffsets>): PartitionOffsets => ({
  partition: 0,
  stored: null,
  committed: -1n,
  expected: undefined,
  logStart: 0n,
  ...fields,
});

describe("planReplays", () => {
  it("replays from the store's offset when it lies below the committed one", () => {
    expect(planReplays([partition({ stored: 40n, committed: 100n })])).toEqual([
      { partition: 0, cause: "store-behind", storeOffset: 40n, upTo: 100n, from: 40n, lost: 0 },
    ]);
  });

  it("leaves a partition whose store offset equals or passes the committed one", () => {
    expect(planReplays([partition({ stored: 100n, committed: 100n })])).toEqual([]);
    expect(planReplays([partition({ stored: 120n, committed: 100n, expected: 120n })])).toEqual([]);
  });

  it("compares with what this worker recorded when Kafka's commit is behind it (batch in hand)", () => {
    expect(planReplays([partition({ stored: 40n, committed: 90n, expected: 100n, position: 100n })])).toEqual(
      [{ partition: 0, cause: "store-behind", storeOffset: 40n, upTo: 100n, from: 40n, lost: 0 }],
    );
  });

  it("does not replay a partition without a stored offset it knows nothing of (new store or version, upgrade)", () => {
    expect(planReplays([partition({ stored: null, committed: 100n })])).toEqual([]);
    expect(planReplays([partition({ stored: null, committed: -1n })])).toEqual([]);
  });

  it("replays from the log's start a partition whose offset this worker recorded and the store lost", () => {
    expect(
      planReplays([partition({ stored: null, committed: 100n, expected: 100n, logStart: 10n })]),
    ).toEqual([
      { partition: 0, cause: "store-offset-missing", storeOffset: null, upTo: 100n, from: 10n, lost: 10 },
    ]);
  });

  it("reads a partition of a topic created again from the new log's start, as no loss of the store's", () => {
    // Nothing recorded under the new topic ID: the group's offset may be the deleted log's.
    const plan = planReplays([partition({ stored: null, committed: 100n, renewed: true })]);
    expect(plan).toEqual([
      { partition: 0, cause: "topic-recreated", storeOffset: null, upTo: 100n, from: 0n, lost: 0 },
    ]);
    expect(plan.map((replay) => storeLost(replay.cause))).toEqual([false]);
    expect(storeLost("store-behind")).toBe(true);
    expect(storeLost("store-offset-missing")).toBe(true);
    // A partition recorded under the new ID since, whose offset the store then lost, is a real loss.
    expect(
      planReplays([partition({ stored: null, committed: 100n, expected: 100n, renewed: false })]),
    ).toEqual([
      { partition: 0, cause: "store-offset-missing", storeOffset: null, upTo: 100n, from: 0n, lost: 0 },
    ]);
    // A store offset of the new topic below the committed one is the store's, created again or not.
    expect(planReplays([partition({ stored: 40n, committed: 100n, renewed: true })])).toEqual([
      { partition: 0, cause: "store-behind", storeOffset: 40n, upTo: 100n, from: 40n, lost: 0 },
    ]);
  });

  it("resumes at the log's start and counts the records retention deleted", () => {
    expect(planReplays([partition({ stored: 40n, committed: 100n, logStart: 70n })])).toEqual([
      { partition: 0, cause: "store-behind", storeOffset: 40n, upTo: 100n, from: 70n, lost: 30 },
    ]);
    expect(planReplays([partition({ stored: 40n, committed: 100n, logStart: 150n })])).toEqual([
      { partition: 0, cause: "store-behind", storeOffset: 40n, upTo: 100n, from: 100n, lost: 60 },
    ]);
  });

  it("plans each partition on its own", () => {
    const plan = planReplays([
      partition({ partition: 0, stored: 5n, committed: 5n }),
      partition({ partition: 1, stored: 3n, committed: 9n }),
    ]);
    expect(plan.map((replay) => replay.partition)).toEqual([1]);
  });
});

/** A store of offsets that answers each mark as the script would. */
function fakeStore(stored: Map<number, bigint>) {
  const apply = (marks: SourceOffsetMarks): void => {
    marks.onResults(
      marks.marks.map((mark) => {
        const current = stored.get(mark.partition) ?? null;
        if (
          mark.expected !== undefined &&
          (current === null || current < mark.expected || current > mark.offset)
        )
          return { set: false as const, stored: current };
        stored.set(mark.partition, mark.offset);
        return { set: true as const };
      }),
    );
  };
  return {
    apply,
    store: {
      write: (marks: SourceOffsetMarks) => Promise.resolve(apply(marks)),
      read: (_source: unknown, partitions: readonly number[]) =>
        Promise.resolve(new Map(partitions.map((p) => [p, stored.get(p) ?? null]))),
      init: (_source: unknown, offsets: readonly { partition: number; offset: bigint }[]) => {
        for (const { partition, offset } of offsets)
          if (!stored.has(partition)) stored.set(partition, offset);
        return Promise.resolve(new Map(offsets.map(({ partition: p }) => [p, stored.get(p) ?? null])));
      },
    },
  };
}

const offsetsOf = (...entries: [number, bigint][]) =>
  entries.map(([p, offset]) => ({ topic: "t", partition: p, offset, leaderEpoch: -1 }));

/** A ledger of group `g` on topic `t`, whose ID a check read. */
function ledgerOn(store: ReturnType<typeof fakeStore>["store"]): StoreOffsetLedger {
  const ledger = new StoreOffsetLedger("v1", { group: "g", topic: "t" }, store);
  ledger.identify("id-1");
  return ledger;
}

describe("StoreOffsetLedger", () => {
  it("records a batch's offsets with its write rounds, and alone when it wrote nothing", async () => {
    const stored = new Map<number, bigint>();
    const { apply, store } = fakeStore(stored);
    const ledger = ledgerOn(store);
    ledger.beginBatch(offsetsOf([0, 10n]));
    apply(ledger.marks()!);
    expect(await ledger.finishBatch()).toEqual([]);
    expect(stored.get(0)).toBe(10n);
    expect(ledger.expected(0)).toBe(10n);
    // No write round: recorded by finishBatch.
    ledger.beginBatch(offsetsOf([0, 12n], [1, 3n]));
    expect(await ledger.finishBatch()).toEqual([]);
    expect([stored.get(0), stored.get(1)]).toEqual([12n, 3n]);
    expect(ledger.marks()).toBeUndefined();
  });

  it("reports a stored offset that went back and leaves it as it is", async () => {
    const stored = new Map<number, bigint>();
    const { store } = fakeStore(stored);
    const ledger = ledgerOn(store);
    await ledger.record(offsetsOf([0, 10n]));
    stored.set(0, 4n); // restored from an older snapshot
    expect(await ledger.record(offsetsOf([0, 20n]))).toEqual([{ partition: 0, expected: 10n, stored: 4n }]);
    expect(stored.get(0)).toBe(4n);
    stored.delete(0); // wiped
    expect(await ledger.record(offsetsOf([0, 20n]))).toEqual([{ partition: 0, expected: 10n, stored: null }]);
  });

  it("records its offset over one another writer recorded between the expected one and its own", async () => {
    const stored = new Map<number, bigint>();
    const { store } = fakeStore(stored);
    const ledger = ledgerOn(store);
    await ledger.record(offsetsOf([0, 10n]));
    stored.set(0, 15n); // the partition's previous owner finished its last batch
    expect(await ledger.record(offsetsOf([0, 20n]))).toEqual([]);
    expect([stored.get(0), ledger.expected(0)]).toEqual([20n, 20n]);
  });

  it("does not take an offset it recorded before the group assigned partitions again as done", async () => {
    const stored = new Map<number, bigint>();
    const { store } = fakeStore(stored);
    const ledger = ledgerOn(store);
    // Committed 80. This worker records 100, then a rebalance refuses its commit and moves the
    // partition: the next owner reads 100, resumes at 80, records 90 (over the 100 it read) and
    // commits 90. The partition comes back to this worker.
    await ledger.record(offsetsOf([0, 100n]));
    ledger.rejoined();
    stored.set(0, 90n);
    const check = (committed: bigint) =>
      planReplays([
        partition({
          stored: stored.get(0) ?? null,
          committed,
          expected: ledger.expected(0),
          position: ledger.position(0),
        }),
      ]);
    // Nothing was lost: the store holds everything below the committed offset, where reading resumes.
    expect(check(90n)).toEqual([]);
    // A store that lost its offsets is still found (this worker knew it had one).
    stored.delete(0);
    expect(check(90n).map((replay) => replay.cause)).toEqual(["store-offset-missing"]);
    // Never committed: the stream kept its position across the assignment, so what it recorded counts.
    expect(check(-1n).map((replay) => [replay.cause, replay.upTo])).toEqual([["store-offset-missing", 100n]]);
    // Recorded again after the rejoin: that one counts (the batch in hand, its commit behind it).
    stored.set(0, 90n);
    ledger.setExpected(0, 90n);
    await ledger.record(offsetsOf([0, 110n]));
    stored.set(0, 95n); // restored behind
    expect(check(90n)).toEqual([
      { partition: 0, cause: "store-behind", storeOffset: 95n, upTo: 110n, from: 95n, lost: 0 },
    ]);
  });

  it("takes a newer offset another writer recorded (a rebalance) without reporting it", async () => {
    const stored = new Map<number, bigint>();
    const { store } = fakeStore(stored);
    const ledger = ledgerOn(store);
    await ledger.record(offsetsOf([0, 10n]));
    stored.set(0, 30n);
    expect(await ledger.record(offsetsOf([0, 20n]))).toEqual([]);
    expect(ledger.expected(0)).toBe(30n);
  });

  it("records under its group and the topic's ID, and forgets what it knew of a topic created again", async () => {
    const stored = new Map<number, bigint>();
    const { apply, store } = fakeStore(stored);
    const ledger = new StoreOffsetLedger("v1", { group: "g", topic: "t" }, store);
    // Before a check read the topic's ID nothing is recorded (the worker checks before its first batch).
    ledger.beginBatch(offsetsOf([0, 5n]));
    expect(ledger.marks()).toBeUndefined();
    expect(await ledger.finishBatch()).toEqual([]);
    expect(stored.size).toBe(0);
    expect(ledger.identify("id-1")).toBe(false);
    expect(ledger.renewedUnrecorded(0)).toBe(false);
    ledger.beginBatch(offsetsOf([0, 5n]));
    const marks = ledger.marks()!;
    expect(marks.marks[0]!.source).toEqual({ group: "g", topic: "t", topicId: "id-1" });
    apply(marks);
    await ledger.finishBatch();
    expect(ledger.expected(0)).toBe(5n);
    expect(ledger.identify("id-1")).toBe(false);
    expect(ledger.expected(0)).toBe(5n);
    // Deleted and created again: a new log, whose offsets start at 0 again.
    expect(ledger.identify("id-2")).toBe(true);
    expect([ledger.expected(0), ledger.position(0)]).toEqual([undefined, undefined]);
    expect(ledger.source).toEqual({ group: "g", topic: "t", topicId: "id-2" });
    // Until an offset is recorded under the new ID, a committed one the store lacks is not taken as
    // done (it may be a batch of the deleted log committed onto the new one).
    expect([ledger.renewedUnrecorded(0), ledger.renewedUnrecorded(1)]).toEqual([true, true]);
    ledger.beginBatch(offsetsOf([0, 2n]));
    apply(ledger.marks()!);
    await ledger.finishBatch();
    expect([ledger.renewedUnrecorded(0), ledger.renewedUnrecorded(1)]).toEqual([false, true]);
  });

  it("does not take a broker that starts or stops naming topic IDs for a topic created again", () => {
    const ledger = new StoreOffsetLedger("v1", { group: "g", topic: "t" }, fakeStore(new Map()).store);
    ledger.identify("");
    expect(ledger.identify("id-1")).toBe(true);
    expect(ledger.renewedUnrecorded(0)).toBe(false);
    expect(ledger.identify("")).toBe(true);
    expect(ledger.renewedUnrecorded(0)).toBe(false);
  });
});

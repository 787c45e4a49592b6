/**
 * The nearline side of the source offsets recorded in the store (store/source-offsets.ts): which
 * offsets a batch records, and the comparison that finds a store behind the group's committed offsets
 * (restored from an older snapshot, restarted without persistence, failed over to a replica behind)
 * and says where to replay from.
 *
 * When the store's offset is absent: a partition this worker recorded or read an offset for in this
 * process, whose offset is now gone, lost it (the store was wiped, or restored from before the first
 * record): it is replayed from the log's start, which on a compacted changelog restores every key.
 * A partition this worker knows nothing of (a brand-new version, a partition just added, the first
 * run of a release that records offsets, or a store that was wiped while no worker ran) has nothing
 * to compare with: it is not replayed. That last case is the operator's (StoreDataLost: the wiped
 * store lost its pointer and registry as well). Where the group has an offset committed for it (a
 * version its bootstrap handed over, a partition with no batch since), the check records that offset
 * (where the store still has none: initSourceOffsets), so a store restored later to before the
 * partition's first batch is found behind from there, also by a worker restarted meanwhile.
 *
 * A partition of a changelog topic deleted and created again, of which nothing is recorded under the
 * new topic ID, is read again from the new log's start (`topic-recreated`, see renewedUnrecorded):
 * the store lost nothing there, so it is counted apart from the replays after a loss (storeLost).
 */
import type { Counter, Registry } from "prom-client";
import { Counter as PromCounter } from "prom-client";
import type {
  OffsetSource,
  SourceOffsetMark,
  SourceOffsetMarks,
  SourceOffsetResult,
} from "../../store/index.ts";
import type { NextOffset } from "./consumed-messages.ts";

/**
 * Why a partition is replayed: the store went behind (`store-behind`) or lost its offset
 * (`store-offset-missing`), or the changelog topic was created again and nothing of the new log is
 * recorded (`topic-recreated`: read again from its start, the store lost nothing).
 */
export type ReplayCause = "store-behind" | "store-offset-missing" | "topic-recreated";

/**
 * Whether a replay of `cause` means the store lost acknowledged writes (counted in /readyz
 * `storeReplays`, which the operator tells in StoreReplayed): not a topic created again.
 */
export function storeLost(cause: ReplayCause): boolean {
  return cause !== "topic-recreated";
}

/** What the check knows of one assigned partition. */
export interface PartitionOffsets {
  readonly partition: number;
  /** The store's recorded offset; null: none. */
  readonly stored: bigint | null;
  /** The group's committed offset in Kafka; below 0: none. */
  readonly committed: bigint;
  /**
   * The offset this worker last recorded or read in the store; undefined: none in this process. Says
   * only that the store had an offset (so one gone now was lost), not how far the worker got.
   */
  readonly expected: bigint | undefined;
  /**
   * The offset this worker recorded since the group last assigned it partitions (how far its stream
   * read and its writes got, possibly past a commit still to come or refused); undefined: none. One
   * recorded before is not: on every assignment the stream restarts at the committed offsets, and the
   * partition may have had another owner since, which re-read it and recorded lower offsets.
   */
  readonly position?: bigint | undefined;
  /** The log's start (retention deleted everything below). */
  readonly logStart: bigint;
  /**
   * The topic was created again and this worker recorded no offset of the partition under its new ID
   * since (StoreOffsetLedger.renewedUnrecorded): a committed offset the store does not hold may be a
   * batch of the deleted log committed onto the new one, so the new log is read from its start.
   */
  readonly renewed?: boolean | undefined;
}

/** One partition to replay: seek to `from`, which lies below `upTo` (what Kafka had as done). */
export interface Replay {
  readonly partition: number;
  readonly cause: ReplayCause;
  /** The store's offset (the log's start when it has none). */
  readonly storeOffset: bigint | null;
  /** The offset the group committed (or this worker recorded since its assignment, if higher). */
  readonly upTo: bigint;
  /** Where reading resumes: the store's offset, or the log's start where retention deleted below it. */
  readonly from: bigint;
  /** Records between the store's offset and the log's start that retention deleted: not replayed. */
  readonly lost: number;
}

/** The partitions whose store offset lies below what was done, and where each replays from. */
export function planReplays(partitions: readonly PartitionOffsets[]): Replay[] {
  const replays: Replay[] = [];
  for (const { partition, stored, committed, expected, position, logStart, renewed } of partitions) {
    // A partition the group never committed keeps its stream's position across an assignment (the
    // stream restarts at committed offsets only where there are some): what it recorded still stands.
    const reached = position ?? (committed < 0n ? expected : undefined);
    const upTo = reached !== undefined && reached > committed ? reached : committed;
    if (upTo <= 0n) continue;
    let target: bigint;
    let cause: ReplayCause;
    if (stored !== null) {
      if (stored >= upTo) continue;
      target = stored;
      cause = "store-behind";
    } else if (renewed === true) {
      target = 0n;
      cause = "topic-recreated";
    } else {
      if (expected === undefined) continue;
      target = 0n;
      cause = "store-offset-missing";
    }
    const start = logStart > target ? logStart : target;
    const from = start < upTo ? start : upTo;
    replays.push({ partition, cause, storeOffset: stored, upTo, from, lost: Number(from - target) });
  }
  return replays;
}

/** A partition whose stored offset went back while this worker wrote (the script refused its offset). */
export interface Regression {
  readonly partition: number;
  readonly expected: bigint;
  readonly stored: bigint | null;
}

/** The store operations the ledger needs (StoreWriter.write, readSourceOffsets), for one source. */
export interface SourceOffsetStore {
  write(marks: SourceOffsetMarks): Promise<void>;
  /** The recorded offsets (adopting those of the release before: adoptLegacySourceOffsets). */
  read(source: OffsetSource, partitions: readonly number[]): Promise<Map<number, bigint | null>>;
  /** Records offsets where none is (initSourceOffsets); returns what each partition holds after. */
  init(
    source: OffsetSource,
    offsets: readonly { partition: number; offset: bigint }[],
  ): Promise<Map<number, bigint | null>>;
}

/**
 * The offsets of the batch in hand, recorded with every write round of it (or alone when it wrote
 * nothing), and the offset this worker expects stored per partition.
 */
export class StoreOffsetLedger {
  readonly #version: string;
  readonly #store: SourceOffsetStore;
  readonly #group: string;
  readonly #topic: string;
  /** The topic's ID as the last check read it; undefined before the first (nothing is recorded). */
  #topicId: string | undefined;
  readonly #expected = new Map<number, bigint>();
  /**
   * Since a check found the topic created again: the partitions with an offset recorded under the new
   * ID since (undefined: no re-creation seen). Until a partition has one, a committed offset the store
   * does not hold may be a batch of the deleted log committed onto the new one (see renewedUnrecorded).
   */
  #renewedRecorded: Set<number> | undefined;
  /** Offsets recorded since the group last assigned partitions (PartitionOffsets.position). */
  readonly #position = new Map<number, bigint>();
  #batch: readonly NextOffset[] = [];
  #recorded = false;
  #regressions = new Map<number, Regression>();

  /** For `version`'s offsets of `topic` that consumer group `group` reads. */
  constructor(version: string, source: { group: string; topic: string }, store: SourceOffsetStore) {
    this.#version = version;
    this.#group = source.group;
    this.#topic = source.topic;
    this.#store = store;
  }

  /** Whose offsets of which log this ledger records; undefined before the topic's ID is known. */
  get source(): OffsetSource | undefined {
    const topicId = this.#topicId;
    return topicId === undefined ? undefined : { group: this.#group, topic: this.#topic, topicId };
  }

  /**
   * Sets the topic's ID as Kafka has it now (every check reads it). Another ID than before is another
   * log (the topic was deleted and created again): what this worker recorded or read of the old one
   * says nothing of it, and is forgotten. True when the ID changed from a known one.
   */
  identify(topicId: string): boolean {
    const before = this.#topicId;
    this.#topicId = topicId;
    if (before === undefined || before === topicId) return false;
    this.#expected.clear();
    this.#position.clear();
    // From or to no ID (a broker before Kafka 2.8, e.g. during a rolling upgrade of the cluster): the
    // same log, as far as anyone can tell; not read again from its start.
    if (before !== "" && topicId !== "") this.#renewedRecorded = new Set();
    return true;
  }

  /**
   * Whether this worker saw the topic created again and has recorded no offset of `partition` under
   * the new ID since. A batch read from the deleted log, in hand or buffered when the topic was created
   * again, is committed by the topic's name, so onto the new log: an offset committed there that the
   * store does not hold may be such a one, past the new log's first records, and is not taken as done.
   */
  renewedUnrecorded(partition: number): boolean {
    return this.#renewedRecorded !== undefined && !this.#renewedRecorded.has(partition);
  }

  /** The offset this worker last recorded or read for a partition; undefined: none. */
  expected(partition: number): bigint | undefined {
    return this.#expected.get(partition);
  }

  /** The offset this worker recorded since the group last assigned it partitions; undefined: none. */
  position(partition: number): bigint | undefined {
    return this.#position.get(partition);
  }

  /** The group assigned partitions (again): the stream restarts at the committed offsets. */
  rejoined(): void {
    this.#position.clear();
  }

  /** Sets what this worker expects stored (after a check read it); undefined forgets it. */
  setExpected(partition: number, offset: bigint | null | undefined): void {
    if (offset === null || offset === undefined) this.#expected.delete(partition);
    else this.#expected.set(partition, offset);
  }

  /** The store's offsets of `partitions` (identify first). */
  read(partitions: readonly number[]): Promise<Map<number, bigint | null>> {
    return this.#store.read(this.#identified(), partitions);
  }

  /**
   * Records the committed offsets of partitions the store has none for and this worker knows none of
   * (a version its bootstrap handed over, a partition with no batch since); returns what each holds.
   */
  init(offsets: readonly { partition: number; offset: bigint }[]): Promise<Map<number, bigint | null>> {
    return this.#store.init(this.#identified(), offsets);
  }

  #identified(): OffsetSource {
    const source = this.source;
    if (source === undefined) throw new Error("the changelog topic's ID is not known yet (no check ran)");
    return source;
  }

  /** Starts a batch: its write rounds record `offsets` (the next offset per partition). */
  beginBatch(offsets: readonly NextOffset[]): void {
    this.#batch = offsets;
    this.#recorded = false;
    this.#regressions = new Map();
  }

  /**
   * The offsets a write round of the batch in hand records (undefined outside a batch, and before a
   * check read the topic's ID: the worker checks before its first batch).
   */
  marks(): SourceOffsetMarks | undefined {
    if (this.#batch.length === 0 || this.source === undefined) return undefined;
    return this.#marksOf(this.#batch, this.#regressions, () => {
      this.#recorded = true;
    });
  }

  /**
   * Ends the batch: records its offsets if no write round did, and returns the partitions whose
   * stored offset went back (not recorded over: the caller checks and replays them).
   */
  async finishBatch(): Promise<Regression[]> {
    const batch = this.#batch;
    if (batch.length > 0 && !this.#recorded && this.source !== undefined)
      await this.#store.write(this.#marksOf(batch, this.#regressions, () => undefined));
    this.#batch = [];
    return [...this.#regressions.values()];
  }

  /** Records offsets outside a batch (a commit past transaction markers); returns regressions. */
  async record(offsets: readonly NextOffset[]): Promise<Regression[]> {
    const regressions = new Map<number, Regression>();
    if (offsets.length > 0 && this.source !== undefined)
      await this.#store.write(this.#marksOf(offsets, regressions, () => undefined));
    return [...regressions.values()];
  }

  #marksOf(
    offsets: readonly NextOffset[],
    regressions: Map<number, Regression>,
    onSet: () => void,
  ): SourceOffsetMarks {
    const source = this.#identified();
    const marks: SourceOffsetMark[] = offsets.map(({ partition, offset }) => ({
      version: this.#version,
      source,
      partition,
      offset,
      expected: this.#expected.get(partition),
    }));
    return {
      marks,
      onResults: (results: readonly SourceOffsetResult[]) => {
        results.forEach((result, index) => {
          const mark = marks[index]!;
          if (result.set) {
            if (mark.source.topicId === this.#topicId) this.#renewedRecorded?.add(mark.partition);
            this.#expected.set(mark.partition, mark.offset);
            this.#position.set(mark.partition, mark.offset);
            regressions.delete(mark.partition);
          } else if (result.stored === null || result.stored < mark.expected!) {
            regressions.set(mark.partition, {
              partition: mark.partition,
              expected: mark.expected!,
              stored: result.stored,
            });
          } else {
            // Another writer (the partition's new owner after a rebalance) recorded a newer offset.
            this.#expected.set(mark.partition, result.stored);
          }
        });
        onSet();
      },
    };
  }
}

/** The replay metrics (README, "Metrics"). */
export interface ReplayMetrics {
  replays: Counter<"pipeline" | "version" | "partition" | "cause">;
  replayedOffsets: Counter<"pipeline" | "version" | "partition">;
  replayLost: Counter<"pipeline" | "version" | "partition">;
}

export function createReplayMetrics(registry: Registry): ReplayMetrics {
  return {
    replays: new PromCounter({
      name: "jude_pipeline_store_replays_total",
      help: "Partitions replayed because the store's recorded source offset lay below the committed one (store restored, wiped or failed over behind), or read again from the start of a changelog topic created again (cause topic-recreated: no store loss)",
      labelNames: ["pipeline", "version", "partition", "cause"],
      registers: [registry],
    }),
    replayedOffsets: new PromCounter({
      name: "jude_pipeline_store_replayed_offsets_total",
      help: "Source offsets rewound by store replays (the records between the store's offset and the committed one; not counted for cause topic-recreated)",
      labelNames: ["pipeline", "version", "partition"],
      registers: [registry],
    }),
    replayLost: new PromCounter({
      name: "jude_pipeline_store_replay_lost_total",
      help: "Source records a store replay needed that retention had deleted from Kafka (not replayed: those entities stay stale until they change)",
      labelNames: ["pipeline", "version", "partition"],
      registers: [registry],
    }),
  };
}

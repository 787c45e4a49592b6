/**
 * What the Kafka client leaves to its user about the changelog's partitions, for the nearline worker
 * (worker.ts): partitions added while the group runs, and records deleted by retention before they
 * were read. Transaction markers are the worker's own concern (it commits past them when idle).
 */
import { Admin, type Consumer } from "@platformatic/kafka";
import type { Logger } from "pino";
import { isKafkaOutage, type kafkaClientOptions } from "../shared/kafka.ts";
import type { PipelineMetrics } from "../shared/metrics.ts";
import type { RawMessage } from "./consumed-messages.ts";

type KafkaConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

/** What the watch reports with: the worker's topic, logger and metrics. */
export interface PartitionWatchOptions {
  topic: string;
  startOffset: "earliest" | "latest";
  logger: Logger;
  metrics: PipelineMetrics;
  labels: { pipeline: string; version: string };
}

export class PartitionWatch {
  readonly #options: PartitionWatchOptions;
  /** The topic's partition count as this member saw it when the group last assigned partitions. */
  #partitionsAtJoin: number | undefined;
  /**
   * Set at start when partitions were added while no worker ran (startAddedWhileAway): the count the
   * group knew before. The first join then counts from it, so the first lag check rejoins: a static
   * member back within its session gets its old assignment without a rebalance, which left the added
   * partitions unassigned while the count at that join already included them.
   */
  #knownAtStart: number | undefined;
  /** Per partition, the offset after the last record handed out since the group last assigned it. */
  readonly #expectedOffsets = new Map<number, bigint>();
  #recordsLost = 0;

  constructor(options: PartitionWatchOptions) {
    this.#options = options;
  }

  /** Source offsets deleted before the worker read them, since it started. */
  get recordsLost(): number {
    return this.#recordsLost;
  }

  /** The group (re)assigned partitions: the stream goes back to their committed offsets. */
  joined(consumer: KafkaConsumer): void {
    this.#expectedOffsets.clear();
    this.#notePartitionsAtJoin(consumer);
  }

  /** A new stream starts at the committed offsets. */
  streamOpened(): void {
    this.#expectedOffsets.clear();
  }

  /** Notes the topic's partition count (the cached metadata the group leader assigned from). */
  #notePartitionsAtJoin(consumer: KafkaConsumer): void {
    const { topic, logger } = this.#options;
    consumer
      .metadata({ topics: [topic] })
      .then((metadata) => {
        const count = metadata.topics.get(topic)?.partitionsCount;
        const before = this.#knownAtStart;
        this.#knownAtStart = undefined;
        this.#partitionsAtJoin =
          count !== undefined && before !== undefined ? Math.min(count, before) : count;
      })
      .catch((error: unknown) => logger.debug({ err: error }, "reading the topic's partitions failed"));
  }

  /**
   * The group assigns a topic's partitions when it (re)joins, as its leader sees the topic then. Kafka's
   * Java consumer rejoins when partitions are added later (within metadata.max.age.ms); this client
   * does not, so added partitions went unread for good, and their lag read 0 (no member owned them).
   * Every member compares the partition count at each lag check and rejoins when it grew: the
   * leader's rejoin makes the group assign the new partitions (another member's is a no-op at the
   * broker), which are then read from their first record.
   *
   * Under `startOffset: latest` too: every record of a partition added after the version started is
   * newer than its start, and a producer writes to it as soon as it exists, before any member noticed.
   * Read from their end (the client's fallback), those first records were skipped, the idle commit
   * then moved past them, and their changes were missing from the store for good. So before the rejoin,
   * the added partitions the group has no offset for get their log start committed (partitions added
   * while no worker of the version ran: `startAddedWhileAway`). One a rejoin for another reason
   * assigned before any member noticed the growth is still read from its end.
   */
  rejoinIfAdded(consumer: KafkaConsumer, partitions: number): void {
    const known = this.#partitionsAtJoin;
    if (known === undefined || partitions <= known) return;
    const { topic, logger, startOffset } = this.#options;
    this.#partitionsAtJoin = partitions;
    logger.info(
      { topic, partitions, before: known },
      "partitions were added to the changelog; rejoining the group to have them assigned",
    );
    const added = Array.from({ length: partitions - known }, (_, index) => known + index);
    (startOffset === "latest" ? this.#startAtLogStart(consumer, added) : Promise.resolve())
      .then(() => consumer.joinGroup({}))
      .catch((error: unknown) => {
        // Tried again at the next lag check.
        if (this.#partitionsAtJoin === partitions) this.#partitionsAtJoin = known;
        logger.warn({ err: error }, "rejoining the group after partitions were added failed");
      });
  }

  /**
   * Before this member joins: the partitions added while no worker of the version ran. Whatever
   * `startOffset`, this member's first join then counts the partitions from before them, so its first
   * lag check rejoins the group and has them assigned (a static member back within its session is
   * given its old assignment, without them). Under `startOffset: latest` their log start is also
   * committed. Partitions are only ever added at the end, numbered above every one before, so a
   * partition without a committed offset numbered above one with an offset was added after the group
   * committed there: all its records are newer than the version's start, and reading it from its end
   * would skip them for good. One without an offset numbered below a committed one was there when the
   * version started and is read from its end as before: a version with no bootstrap has no
   * operator-committed start, and its workers commit a partition only with a batch of it or once idle,
   * so a quiet partition of a busy version may have no offset yet; replaying it from its first record
   * would read its whole history, which `latest` does not. (An uncommitted partition above every
   * committed one that was there at the start would be taken for an added one: so at a version's first
   * start under `latest`, no offset at all, every partition's end is committed instead, see
   * #commitFirstStart; bootstrapped versions have their start committed by the operator.) Their log
   * start is committed (through the admin API, which the broker allows while the group has no
   * members; when it refuses, e.g. for a crashed static member still in the group, this member's
   * first lag check commits it before the rejoin, as for partitions added while it runs). Rejects
   * only when the brokers cannot be reached (isKafkaOutage): the join is then retried, this check
   * with it, where going on unchecked would skip the first start's commit for good should the
   * brokers be back by the join. Any other failure is logged.
   */
  async startAddedWhileAway(
    consumer: KafkaConsumer,
    clientOptions: ReturnType<typeof kafkaClientOptions>,
    groupId: string,
  ): Promise<void> {
    const { topic, logger, startOffset } = this.#options;
    try {
      const latest = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
      const all = latest.map((_, partition) => partition);
      const committed =
        (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: all }] })).get(topic) ?? [];
      if (startOffset === "latest" && committed.every((offset) => (offset ?? -1n) < 0n)) {
        await this.#commitFirstStart(clientOptions, groupId, latest);
        return;
      }
      const uncommitted = addedWhileAway(committed, all.length);
      if (uncommitted.length === 0) return;
      this.#knownAtStart = all.length - uncommitted.length;
      if (startOffset !== "latest") return;
      const logStart = (await consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? [];
      await this.#commitGroupOffsets(
        clientOptions,
        groupId,
        uncommitted.map((partition) => ({ partition, offset: logStart[partition] ?? 0n })),
      );
      logger.info(
        { topic, partitions: uncommitted },
        "partitions added while no worker ran start at their first record (they are newer than this version's start)",
      );
    } catch (error) {
      if (isKafkaOutage(error)) throw error;
      logger.warn(
        { err: error },
        "could not check for or start the partitions added while no worker ran; they are read from startOffset once assigned",
      );
    }
  }

  /**
   * A version's first start under `startOffset: latest` (the group has no committed offset at all): the
   * end of every partition is committed before this member joins, so that from then on a partition
   * without an offset beside partitions with one really was added later (startAddedWhileAway). Without
   * it, a version with no bootstrap (no operator-committed start) had offsets only for the partitions
   * its workers had a batch of or were idle on, and a quiet highest partition restarted into an empty
   * group was taken for an added one and replayed from its first record (its whole history: cost and
   * duplicate output records). Through the admin API, which the broker allows only while the group has
   * no members. Two workers starting at once: each commits the ends it read, the later commit wins,
   * and both are the version's start (records between the two reads are older than it, as they were for
   * a member assigned later than another); once one has joined, the broker refuses the other's
   * commit (the group has a member) and that member goes on from the group's offsets. (One that
   * joined, committed past these ends and left between this member's reads and its commit would be
   * replayed from them: duplicates, never a loss.) Rejects only when the brokers cannot be reached
   * (see startAddedWhileAway); any other failure is logged, and the partitions are read from their end
   * as before.
   */
  async #commitFirstStart(
    clientOptions: ReturnType<typeof kafkaClientOptions>,
    groupId: string,
    ends: readonly bigint[],
  ): Promise<void> {
    const { topic, logger } = this.#options;
    try {
      await this.#commitGroupOffsets(
        clientOptions,
        groupId,
        ends.map((offset, partition) => ({ partition, offset })),
      );
      logger.info(
        { topic, partitions: ends.length },
        "first start of this version under startOffset latest: every partition starts at its current end",
      );
    } catch (error) {
      if (isKafkaOutage(error)) throw error;
      logger.info(
        { err: error },
        "could not commit this version's start (another worker may have joined first); reading from the group's offsets",
      );
    }
  }

  /**
   * Commits `partitionOffsets` of the topic as the group's offsets through the admin API (which the
   * broker allows only while the group has no members). Rejects when the broker refuses; the admin
   * client is closed either way.
   */
  async #commitGroupOffsets(
    clientOptions: ReturnType<typeof kafkaClientOptions>,
    groupId: string,
    partitionOffsets: { partition: number; offset: bigint }[],
  ): Promise<void> {
    const admin = new Admin({ ...clientOptions, clientId: `${clientOptions.clientId}-admin` });
    try {
      await admin.alterConsumerGroupOffsets({
        groupId,
        topics: [{ name: this.#options.topic, partitionOffsets }],
      });
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  /** Commits the log start of each of `partitions` the group has no committed offset for. */
  async #startAtLogStart(consumer: KafkaConsumer, partitions: readonly number[]): Promise<void> {
    const { topic, logger } = this.#options;
    const committed =
      (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [...partitions] }] })).get(
        topic,
      ) ?? [];
    const uncommitted = partitions.filter((partition) => (committed[partition] ?? -1n) < 0n);
    if (uncommitted.length === 0) return;
    const logStart = (await consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? [];
    const offsets = uncommitted.map((partition) => ({
      topic,
      partition,
      offset: logStart[partition] ?? 0n,
      leaderEpoch: -1,
    }));
    await consumer.commit({ offsets });
    logger.info(
      { topic, partitions: uncommitted },
      "added partitions start at their first record (they are newer than this version's start)",
    );
  }

  /**
   * A partition whose committed offset retention (or kafka-delete-records) removed is resumed by the
   * client at the log's start (or end, under `startOffset: latest`), as Kafka's consumers do with
   * auto.offset.reset, but without a word. The records in between are gone for every reader and their changes are missing from the
   * store until a later event of the key or a bootstrap, so the jump is reported: a warning, the
   * counter jude_pipeline_source_records_lost_total{partition} and `sourceRecordsLost` on /readyz.
   * Found as a batch starting past the offset expected (the committed one after a group join), with
   * the log's start past that offset too; compaction and transaction markers leave gaps as well, but
   * never move the log's start.
   */
  async findSkippedRecords(consumer: KafkaConsumer, messages: readonly RawMessage[]): Promise<void> {
    const { topic, logger } = this.#options;
    const first = new Map<number, bigint>();
    const next = new Map<number, bigint>();
    for (const { partition, offset } of messages) {
      if (offset < (first.get(partition) ?? offset + 1n)) first.set(partition, offset);
      if (offset + 1n > (next.get(partition) ?? -1n)) next.set(partition, offset + 1n);
    }
    const expected = new Map(this.#expectedOffsets);
    const unknown = [...first.keys()].filter((partition) => !expected.has(partition));
    if (unknown.length > 0) {
      try {
        const topics = [{ topic, partitions: unknown }];
        const committed = (await consumer.listCommittedOffsets({ topics })).get(topic) ?? [];
        for (const partition of unknown) expected.set(partition, committed[partition] ?? -1n);
      } catch (error) {
        logger.debug({ err: error }, "reading the committed offsets to check for skipped records failed");
      }
    }
    for (const [partition, offset] of next) this.#expectedOffsets.set(partition, offset);
    const jumps = [...first]
      .map(([partition, offset]) => ({ partition, from: expected.get(partition) ?? -1n, resumedAt: offset }))
      .filter((jump) => jump.from >= 0n && jump.resumedAt > jump.from);
    // The log's start does not depend on this batch: measured beside it, not before it.
    if (jumps.length > 0) void this.reportDeletedBelow(consumer, jumps);
  }

  /**
   * Reports the records lost where a partition's reading jumped from `from` to `resumedAt` while the
   * log's start moved past `from`: retention deleted them, and the client resumed at the log's start
   * (`startOffset: earliest`) or at its end (`latest`, skipping the records still there as well).
   * Other jumps (compaction, transaction markers) never move the log's start and are not reported.
   * Never rejects.
   */
  async reportDeletedBelow(
    consumer: KafkaConsumer,
    jumps: readonly { partition: number; from: bigint; resumedAt: bigint }[],
  ): Promise<void> {
    const { topic, startOffset, metrics, labels, logger } = this.#options;
    try {
      const logStart = (await consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? [];
      for (const { partition, from, resumedAt } of jumps) {
        const start = logStart[partition] ?? -1n;
        if (from < 0n || start <= from) continue;
        const lost = Number((startOffset === "earliest" && start < resumedAt ? start : resumedAt) - from);
        this.#recordsLost += lost;
        metrics.sourceRecordsLost.inc({ ...labels, partition: String(partition) }, lost);
        logger.warn(
          {
            partition,
            from: from.toString(),
            logStart: start.toString(),
            resumedAt: resumedAt.toString(),
            records: lost,
          },
          "source records were deleted (retention) before this pipeline read them; it resumed past them",
        );
      }
    } catch (error) {
      logger.debug({ err: error }, "reading the log's start to check for skipped records failed");
    }
  }
}

/**
 * The partitions of a topic of `count` partitions taken as added after the group last committed
 * (startAddedWhileAway): those without a committed offset (below 0) numbered above the highest
 * partition with one. None when no partition has one (a version's first start: `startOffset` decides;
 * under `latest` the worker then commits every partition's end, startAddedWhileAway).
 */
export function addedWhileAway(committed: readonly bigint[], count: number): number[] {
  let highest = -1;
  for (let partition = 0; partition < count; partition += 1)
    if ((committed[partition] ?? -1n) >= 0n) highest = partition;
  if (highest < 0) return [];
  return Array.from({ length: count - highest - 1 }, (_, index) => highest + 1 + index);
}

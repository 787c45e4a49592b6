/**
 * The nearline consumer loop of one pipeline version: read micro-batches from the changelog, process
 * each (processor.ts), and commit its offsets only after every sink acknowledged. Batches run one at
 * a time, so per-partition order holds; a batch that fails on an unavailable dependency is retried
 * whole (its writes are idempotent), so a Redis, Kafka or embedding-server restart only pauses it.
 */
import {
  type Consumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessagesStream,
} from "@platformatic/kafka";
import type { Logger } from "pino";
import { unansweredAfterMs, whileUnanswered, type DependencyWait } from "../shared/dependency-wait.ts";
import { dependencyOf } from "../shared/errors.ts";
import { FreshnessWindow, type FreshnessSketch } from "../shared/freshness-sketch.ts";
import { isRebalanceError, type kafkaClientOptions } from "../shared/kafka.ts";
import type { PipelineMetrics } from "../shared/metrics.ts";
import { retry, type RetryOptions } from "../../plumbing/retry.ts";
import { BatchSource } from "./batch-source.ts";
import { PartitionWatch } from "./partition-watch.ts";
import { ReadCommittedConsumer } from "./read-committed-consumer.ts";
import { nextOffsets, toRecord, type NextOffset, type RawMessage } from "./consumed-messages.ts";
import { zeroCounts, type BatchOutcome, type ConsumedRecord } from "./processor.ts";
import { planReplays, storeLost, type ReplayMetrics, type StoreOffsetLedger } from "./store-offsets.ts";

/** How often the consumer lag is measured. */
const lagCheckMs = 5_000;

/**
 * How long a lag figure stands without a newer one: a worker cut off from the broker (checks failing,
 * or its consumer out of the group) would otherwise report its last figure, perhaps 0, while the
 * backlog grows, and the operator's CaughtUp gate would pass on it. Past this the figure is unknown:
 * no lag samples, as before the first check.
 */
export const lagStaleMs = 6 * lagCheckMs;

/** Whether a lag figure measured at `checkedAtMs` (undefined: never) still stands at `nowMs`. */
export function lagStands(checkedAtMs: number | undefined, nowMs: number): boolean {
  return checkedAtMs !== undefined && nowMs - checkedAtMs <= lagStaleMs;
}

export interface NearlineWorkerOptions {
  kafka: { clientOptions: ReturnType<typeof kafkaClientOptions> };
  topic: string;
  consumerGroup: string;
  startOffset: "earliest" | "latest";
  /** Consumer session timeout (ms); the rebalance timeout is at least this (see the config). */
  sessionTimeoutMs?: number;
  batching: { maxEvents: number; lingerMs: number };
  process: (records: readonly ConsumedRecord[]) => Promise<BatchOutcome>;
  isRetryable: (error: unknown) => boolean;
  metrics: PipelineMetrics;
  labels: { pipeline: string; version: string };
  logger: Logger;
  onBatch?: (outcome: BatchOutcome, committedAtMs: number) => void;
  /**
   * Static group membership (KIP-345): a stable id per worker, e.g. its pod name. A worker restarted
   * under the same id (a container restart after kill -9 keeps the pod name) takes its old place in
   * the group at once instead of waiting for the dead member's session to time out.
   */
  groupInstanceId?: string | undefined;
  /** Aborted when a drain ran out of time: stops retrying the final offset commit. */
  signal?: AbortSignal | undefined;
  /** Told when a batch is taken, retried on a dependency, and committed (see dependency-wait.ts). */
  wait?: DependencyWait | undefined;
  /**
   * The source offsets recorded in the store (store-offsets.ts): each batch records its offsets
   * before they are committed, and a store found behind the committed offsets is replayed.
   */
  storeOffsets?: { ledger: StoreOffsetLedger; metrics: ReplayMetrics } | undefined;
  /**
   * How the group join in `start` waits out brokers that are down (app.ts's Kafka outage at start:
   * the same predicate, log line and count as its topic check); absent, a failed join fails `start`.
   */
  joinRetry?: RetryOptions | undefined;
}

/** Store replays since start, for /readyz (not the re-reads of a topic created again). */
export interface ReplayTotals {
  /** Partitions replayed because the store was behind or had lost its offset. */
  replays: number;
  /** Offsets rewound by them. */
  replayedOffsets: number;
  /** Records a replay needed that retention had deleted. */
  lost: number;
}

/**
 * Partitions read again from the start of a changelog topic created again (cause topic-recreated):
 * the store lost nothing, so they are kept out of ReplayTotals.
 */
export interface RecreatedReads {
  partitions: number;
  /** Records of the new topic retention deleted before they were read (in recordsLost). */
  lost: number;
}

/** Totals since start (a batch's counts summed), for status and tests. */
export type WorkerTotals = Omit<
  BatchOutcome,
  "visibleEventTimesMs" | "visibleStoredAtMs" | "deadLetterCodes"
> & {
  batches: number;
};

export class NearlineWorker {
  readonly #options: NearlineWorkerOptions;
  readonly #abort = new AbortController();
  #consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #source: BatchSource<RawMessage> | undefined;
  /** True from taking a batch until its offsets are committed (for good if it never is). */
  #inBatch = false;
  /** The commit of a fetch position past transaction markers in flight (see #commitPastMarkers). */
  #markerCommit: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #ready = false;
  #failure: unknown;
  readonly #lag = new Map<number, number>();
  #lagTimer: NodeJS.Timeout | undefined;
  #lagCheckedAtMs: number | undefined;
  #firstCommitAtMs: number | undefined;
  #joinStartedAtMs = 0;
  readonly #partitions: PartitionWatch;
  readonly totals: WorkerTotals = { ...zeroCounts(), batches: 0 };
  readonly #freshness = new FreshnessWindow();
  /** Why the store's offsets must be compared with the committed ones before the next batch. */
  #checkCause: string | undefined;
  /** Aborted to stop waiting for the next batch when a check is wanted. */
  #checkWake = new AbortController();
  /** Ends the wait for the next batch: on stop, or when a check is wanted. */
  #nextSignal = AbortSignal.any([this.#abort.signal, this.#checkWake.signal]);
  readonly replays: ReplayTotals = { replays: 0, replayedOffsets: 0, lost: 0 };
  readonly recreatedReads: RecreatedReads = { partitions: 0, lost: 0 };

  constructor(options: NearlineWorkerOptions) {
    this.#options = options;
    this.#partitions = new PartitionWatch(options);
  }

  /** True once the consumer joined its group and the loop runs. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Consumer lag per partition from the last lag check (every 5 s), and their sum. */
  get lag(): { total: number; partitions: Record<string, number> } {
    const partitions = Object.fromEntries(
      [...this.#lag].sort(([a], [b]) => a - b).map(([partition, lag]) => [String(partition), lag]),
    );
    return { total: [...this.#lag.values()].reduce((sum, value) => sum + value, 0), partitions };
  }

  /** Freshness (event time -> store write acknowledged) of the last minute's writes; /readyz shows it. */
  freshness(nowMs = Date.now()): FreshnessSketch {
    return this.#freshness.snapshot(nowMs);
  }

  /** Source offsets retention deleted before this worker read them (see PartitionWatch), replays included. */
  get recordsLost(): number {
    return this.#partitions.recordsLost + this.replays.lost + this.recreatedReads.lost;
  }

  /**
   * Compares the store's recorded offsets with the committed ones before the next batch (the worker
   * gained partitions, or its store connection came back: the server may have restarted behind).
   */
  requestStoreCheck(cause: string): void {
    if (this.#options.storeOffsets === undefined) return;
    this.#checkCause ??= cause;
    this.#checkWake.abort();
  }

  /** When this worker first committed offsets (epoch ms); undefined before. */
  get firstCommitAtMs(): number | undefined {
    return this.#firstCommitAtMs;
  }

  /** Why the loop failed for good; undefined while it runs or after a clean stop. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Joins the consumer group and starts the loop; resolves once consuming. */
  async start(): Promise<void> {
    const options = this.#options;
    this.#joinStartedAtMs = Date.now();
    const source = options.joinRetry
      ? await retry(() => this.#join(), { ...options.joinRetry, signal: this.#abort.signal })
      : await this.#join();
    // The start's wait for the brokers (app.ts), if any, is over.
    options.wait?.settled();
    // The age check does not wait for the measurement: against a broker that hangs (connections open,
    // no answers) one lasts as long as the client's retries of a request timeout, minutes, and the
    // last figure (perhaps 0) must not stand meanwhile. One measurement at a time.
    let measuring = false;
    this.#lagTimer = setInterval(() => {
      if (this.#lag.size > 0 && !lagStands(this.#lagCheckedAtMs, Date.now())) this.#forgetLag();
      if (measuring) return;
      measuring = true;
      this.#measureLag()
        .catch((error: unknown) => options.logger.debug({ err: error }, "consumer lag check failed"))
        .finally(() => (measuring = false));
    }, lagCheckMs);
    this.#ready = true;
    this.#loop = this.#run(source);
    // Callers learn of a failure through `done`; this handler only keeps it from being "unhandled".
    this.#loop.catch((error: unknown) => {
      this.#ready = false;
      this.#failure = error;
      options.logger.error({ err: error }, "nearline loop failed");
    });
  }

  /**
   * A new consumer in the group, and its first stream. A try that fails closes its consumer and the
   * next one starts over with a new one: the client keeps what a failed consume did (the topic counted
   * as subscribed once more; the member id of a join whose sync failed), after which the consumer would
   * not join again, neither at the next try nor when a failed rejoin has the loop reopen its stream.
   */
  async #join(): Promise<BatchSource<RawMessage>> {
    const options = this.#options;
    // Never shorter than the session: a rebalance then cannot evict a dead member sooner than its
    // session would, so the session timeout alone says how long a lost worker's partitions wait.
    const rebalanceTimeoutMs = Math.max(30_000, options.sessionTimeoutMs ?? 20_000);
    // Aborted transactions' records are dropped also when their abort marker comes in a later fetch.
    this.#consumer = new ReadCommittedConsumer({
      ...options.kafka.clientOptions,
      groupId: options.consumerGroup,
      ...(options.groupInstanceId !== undefined ? { groupInstanceId: options.groupInstanceId } : {}),
      autocommit: false,
      sessionTimeout: options.sessionTimeoutMs ?? 20_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: rebalanceTimeoutMs,
    });
    const consumer = this.#consumer;
    // The client emits 'error' (nothing else does) when the rejoin that follows a heartbeat's
    // rebalance error fails: the client closed under it (this worker stopping while the group
    // rebalances), or its retries used up against a coordinator that does not answer in time, after
    // which the member heartbeats no more while its stream stays open. With no listener that emit was
    // an uncaught exception, which ended the process on its way out or mid-batch. Stopping, it means
    // nothing; running, the stream is failed with the error: the loop reopens it at the committed
    // offsets and the new stream joins the group again (an error no retry can mend fails the worker).
    consumer.on("error", (error: Error) => {
      // A consumer of a failed try at the join has no stream of this worker's.
      if (consumer !== this.#consumer) return;
      if (this.#abort.signal.aborted) {
        options.logger.debug({ err: error }, "the kafka client's group rejoin ended with the stop");
        return;
      }
      options.logger.warn({ err: error }, "the kafka client's group rejoin failed; reopening the stream");
      this.#stream?.destroy(error);
    });
    consumer.on("consumer:group:join", () => {
      this.#partitions.joined(consumer);
      // The stream restarts at the committed offsets: what this worker recorded before is no measure
      // of what it has done (the partition may have had another owner since).
      options.storeOffsets?.ledger.rejoined();
      this.requestStoreCheck("partitions assigned");
    });
    try {
      // Fails only on brokers that are down: this try's consumer is closed, and the next starts over.
      await this.#ask(() =>
        this.#partitions.startAddedWhileAway(consumer, options.kafka.clientOptions, options.consumerGroup),
      );
      // Said unanswered only past the rebalance timeout: the broker holds a join answer until the
      // group's other members rejoined, that long at most.
      return await this.#ask(() => this.#openStream(), rebalanceTimeoutMs + unansweredAfterMs);
    } catch (error) {
      await consumer.close(true).catch(() => undefined);
      throw error;
    }
  }

  /** Finishes the batch in hand, commits it, leaves the group and closes. Idempotent. */
  async stop(): Promise<void> {
    this.#ready = false;
    this.#abort.abort();
    await this.#loop?.catch(() => undefined);
    clearInterval(this.#lagTimer);
    this.#lagTimer = undefined;
    await this.#stream?.close().catch(() => undefined);
    await this.#consumer?.close(true).catch(() => undefined);
  }

  /**
   * Lag of each partition this worker is assigned, from the group's committed offset as the broker has
   * it (the others read 0: another worker reports them). The Kafka client's own figure counts from the
   * fetch position, which a rejoin takes as the start: a worker stuck on a batch it had fetched but not
   * committed read 0 while its backlog stayed, and the CaughtUp gate could pass on it. A partition the
   * group never committed counts from the log's start under `startOffset: earliest`; under `latest`
   * the client's figure is all there is (where the stream started reading).
   */
  async #measureLag(): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined || !consumer.isActive()) return;
    const { topic, startOffset, metrics, labels } = this.#options;
    const assigned = consumer.assignments?.find((entry) => entry.topic === topic)?.partitions ?? [];
    const latest = (await this.#ask(() => consumer.listOffsets({ topics: [topic] }))).get(topic) ?? [];
    this.#partitions.rejoinIfAdded(consumer, latest.length);
    // A fetch position of the deleted log must not be committed onto the new one (its first records
    // would be skipped): the check asked for here reopens the stream first.
    const recreated = await this.#checkIfRecreated(consumer);
    const committed =
      assigned.length === 0
        ? []
        : ((
            await this.#ask(() =>
              consumer.listCommittedOffsets({ topics: [{ topic, partitions: assigned }] }),
            )
          ).get(topic) ?? []);
    if (!recreated) await this.#commitPastMarkers(consumer, committed);
    const uncommitted = assigned.filter((partition) => (committed[partition] ?? -1n) < 0n);
    const start =
      uncommitted.length === 0
        ? []
        : startOffset === "earliest"
          ? ((await this.#ask(() => consumer.listOffsets({ topics: [topic], timestamp: -2n }))).get(topic) ??
            [])
          : ((await this.#ask(() => consumer.getLag({ topics: [topic] }))).get(topic) ?? []).map(
              (lag, partition) => (latest[partition] ?? 0n) - lag,
            );
    for (let partition = 0; partition < latest.length; partition += 1) {
      let lag = 0n;
      if (assigned.includes(partition)) {
        const done = committed[partition] ?? -1n;
        lag = (latest[partition] ?? 0n) - (done >= 0n ? done : (start[partition] ?? latest[partition] ?? 0n));
      }
      const value = Number(lag < 0n ? 0n : lag);
      this.#lag.set(partition, value);
      metrics.consumerLag.set({ ...labels, partition: String(partition) }, value);
    }
    this.#lagCheckedAtMs = Date.now();
  }

  /**
   * Asks for a store check when the client's metadata (refreshed when a fetch finds the topic gone)
   * names another topic ID than the last check read: the topic was deleted and created again, and
   * the store's offsets of the new log are another field (store/source-offsets.ts). True when it
   * asked.
   */
  async #checkIfRecreated(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>): Promise<boolean> {
    const known = this.#options.storeOffsets?.ledger.source?.topicId;
    if (known === undefined) return false;
    try {
      const metadata = await this.#ask(() => consumer.metadata({ topics: [this.#options.topic] }));
      const id = topicIdOf(this.#options.topic, metadata.topics.get(this.#options.topic)?.id);
      if (id === undefined || id === known) return false;
      this.requestStoreCheck("changelog topic created again");
      return true;
    } catch (error) {
      this.#options.logger.debug({ err: error }, "reading the topic's ID failed");
      return false;
    }
  }

  /**
   * A call of the lag check to the brokers, said while it goes unanswered past its bound
   * (dependency-wait.ts): a broker that hangs answers nothing, and the client fails a request to it
   * only after its request timeout and retries (minutes), while a refused one fails at once. The lag
   * check asks every 5 s, batch or none, so a hang is said whatever the worker is doing (a batch
   * stuck at its produce or commit says nothing else until the client gives up).
   */
  #ask<T>(call: () => Promise<T>, afterMs = unansweredAfterMs): Promise<T> {
    const { metrics, labels, logger, wait } = this.#options;
    return whileUnanswered(call, {
      wait,
      dependency: "kafka",
      afterMs,
      onUnanswered: (error) => {
        metrics.retries.inc({ ...labels, dependency: "kafka" });
        logger.warn({ err: error }, "kafka does not answer; waiting");
      },
    });
  }

  /** Drops a lag figure too old to stand (lagStaleMs), from /readyz and /metrics alike. */
  #forgetLag(): void {
    const { metrics, labels, logger } = this.#options;
    logger.warn(
      { lagCheckedAtMs: this.#lagCheckedAtMs },
      `consumer lag unknown: no lag check succeeded for ${lagStaleMs / 1000} s (is the broker reachable?)`,
    );
    for (const partition of this.#lag.keys())
      metrics.consumerLag.remove({ ...labels, partition: String(partition) });
    this.#lag.clear();
  }

  /**
   * Transaction markers take offsets of their own, and aborted records are dropped (read_committed),
   * so neither reaches a batch: a partition whose last records ended a transaction kept its committed
   * offset short of the log's end for good, its lag never read 0, and on a quiet topic (no freshness
   * samples) the CaughtUp gate stayed shut. While the worker holds nothing uncommitted (no batch in
   * hand, nothing buffered), everything below the stream's fetch position was processed and committed
   * or was such an offset, so the position itself is committed, as Kafka's Java consumer commits its
   * position. The position may also have jumped past offsets retention deleted unread (the client
   * resumed at the log's start or end, with no batch yet): that is reported first, so the commit
   * does not hide it. Updates `committed` (per partition) in place.
   */
  async #commitPastMarkers(
    consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
    committed: bigint[],
  ): Promise<void> {
    const { topic, logger } = this.#options;
    const stream = this.#stream;
    // Not while stopping either: a store check that stopped may have left the stream where it was,
    // short of a replay or on a deleted topic, without reopening it (#checkStoreOffsets).
    const idle =
      !this.#abort.signal.aborted &&
      !this.#inBatch &&
      this.#markerCommit === undefined &&
      this.#source?.buffered === 0 &&
      stream !== undefined &&
      !stream.destroyed &&
      stream.readableLength === 0;
    if (!idle) return;
    // Read now, in the same turn as the checks above: the assignment may have changed since.
    const assigned = consumer.assignments?.find((entry) => entry.topic === topic)?.partitions ?? [];
    const offsets: NextOffset[] = [];
    for (const partition of assigned) {
      const position = stream.offsetsToFetch.get(`${topic}:${partition}`);
      if (position !== undefined && position > (committed[partition] ?? -1n))
        offsets.push({ topic, partition, offset: position, leaderEpoch: -1 });
    }
    if (offsets.length === 0) return;
    // The loop waits for this before committing its next batch, which lies at or past these offsets.
    // A position past offsets retention deleted unread is reported before it is committed over.
    const jumps = offsets.map(({ partition, offset }) => ({
      partition,
      from: committed[partition] ?? -1n,
      resumedAt: offset,
    }));
    const ledger = this.#options.storeOffsets?.ledger;
    this.#markerCommit = this.#ask(() => this.#partitions.reportDeletedBelow(consumer, jumps))
      // Recorded in the store first, or the store's offset would read as behind the committed one.
      .then(async () => {
        if (ledger === undefined) return;
        if ((await ledger.record(offsets)).length > 0) {
          this.requestStoreCheck("store offset went back");
          throw new Error("the store's offset went back; not committing past transaction markers");
        }
      })
      .then(() => this.#ask(() => consumer.commit({ offsets })))
      .then(() => {
        for (const { partition, offset } of offsets) committed[partition] = offset;
      })
      .catch((error: unknown) =>
        logger.debug({ err: error }, "committing the position past transaction markers failed"),
      )
      .finally(() => {
        this.#markerCommit = undefined;
      });
    await this.#markerCommit;
  }

  /** When the lag was last measured (epoch ms); undefined before the first check. */
  get lagCheckedAtMs(): number | undefined {
    return this.#lagCheckedAtMs;
  }

  /** Resolves when the loop ends (after `stop`), rejects if it failed for good. */
  get done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  /**
   * Opens the message stream: from the group's committed offsets, which every processed batch moved
   * (its commit follows its sinks), and from `startOffset` where the group has none.
   */
  async #openStream(): Promise<BatchSource<RawMessage>> {
    const options = this.#options;
    this.#partitions.streamOpened();
    this.#stream = await this.#consumer!.consume({
      topics: [options.topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode:
        options.startOffset === "latest"
          ? MessagesStreamFallbackModes.LATEST
          : MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
      maxWaitTime: 200,
    });
    this.#stream.on("error", (error: Error) => options.logger.warn({ err: error }, "kafka stream error"));
    return new BatchSource<RawMessage>(this.#stream, options.batching);
  }

  /**
   * A new stream after the client gave up on the old one. The client destroys its stream when a fetch
   * or the offset refresh after a group rejoin still fails after its own few retries, which a broker
   * restart easily outlasts; the consumer itself stays usable. BatchSource handed out everything the
   * old stream delivered, and each batch was committed after its sinks, so the new stream starts at
   * the committed offsets exactly where processing stopped: nothing skipped, at most replayed (a batch
   * whose commit a rebalance refused). One gap remains: a partition the group never committed, whose
   * first records sat unread in the dead stream, starts again from `startOffset`, so with `latest`
   * those records are skipped (a version started from its bootstrap is not exposed: the operator
   * commits its start offsets before its workers exist).
   */
  async #reopenStream(): Promise<BatchSource<RawMessage>> {
    const old = this.#stream;
    // Its 'close' untracks the topic in the consumer; a new stream must subscribe after that.
    if (old !== undefined && !old.closed) {
      const closed = new Promise<void>((resolve) => old.once("close", () => resolve()));
      if (!old.destroyed) await old.close().catch(() => undefined);
      await closed;
    }
    const { metrics, labels, logger } = this.#options;
    return retry(() => this.#openStream(), {
      signal: this.#abort.signal,
      isRetryable: (error) => this.#options.isRetryable(error) || isRebalanceError(error),
      onRetry: (error, attempt) => {
        metrics.retries.inc({ ...labels, dependency: "kafka" });
        this.#options.wait?.retried("kafka", error);
        logger.warn({ err: error, attempt }, "reopening the kafka stream failed; retrying");
      },
    });
  }

  async #run(initial: BatchSource<RawMessage>): Promise<void> {
    const { metrics, labels, logger } = this.#options;
    this.#source = initial;
    while (!this.#abort.signal.aborted) {
      let messages: RawMessage[];
      if (this.#checkCause !== undefined) {
        await this.#checkStoreOffsets();
        continue;
      }
      const source = this.#source;
      try {
        messages = await source.next(this.#nextSignal);
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        if (!this.#options.isRetryable(error) && !isRebalanceError(error)) throw error;
        metrics.retries.inc({ ...labels, dependency: "kafka" });
        this.#options.wait?.retried("kafka", error);
        logger.warn({ err: error }, "kafka stream failed; reopening it at the committed offsets");
        try {
          this.#source = await this.#reopenStream();
          this.#options.wait?.settled();
        } catch (reopenError) {
          if (this.#abort.signal.aborted) return;
          throw reopenError;
        }
        continue;
      }
      if (messages.length === 0) continue;
      this.#inBatch = true;
      if (this.#checkCause !== undefined) {
        // Partitions came or the store reconnected while this batch was read: compare first; a
        // replay reopens the stream and the batch is read again in its turn.
        if (await this.#checkStoreOffsets()) {
          this.#inBatch = false;
          continue;
        }
      }
      this.#options.wait?.batchStarted();
      try {
        await this.#partitions.findSkippedRecords(this.#consumer!, messages);
        // Stays in hand when it failed for good or a drain abandoned it: the lag check's commit of the
        // stream's position (past this batch) would otherwise mark its records done, and the restarted
        // worker would skip them, neither stored nor dead-lettered.
        if (await this.#processAndCommit(messages)) this.#inBatch = false;
      } finally {
        this.#options.wait?.settled();
      }
    }
  }

  /** Runs one batch through the sinks, then commits its offsets; false when a drain abandoned it. */
  async #processAndCommit(messages: RawMessage[]): Promise<boolean> {
    const { metrics, labels, logger } = this.#options;
    const records = messages.map(toRecord);
    const offsets = [...nextOffsets(messages).values()];
    this.#options.storeOffsets?.ledger.beginBatch(offsets);
    // Once a batch is in hand it is finished even during shutdown, so its offsets can be committed.
    let outcome: BatchOutcome;
    try {
      outcome = await retry(() => this.#options.process(records), {
        signal: this.#abort.signal,
        isRetryable: this.#options.isRetryable,
        onRetry: (error, attempt) => {
          metrics.retries.inc({ ...labels, dependency: dependencyOf(error) });
          this.#options.wait?.retried(dependencyOf(error), error);
          logger.warn(
            { err: error, attempt, events: records.length },
            "batch failed on an unavailable dependency; retrying",
          );
        },
      });
    } catch (error) {
      // Stopping while a dependency is away: leave the batch uncommitted; whoever owns these
      // partitions next replays it (at least once, nothing lost).
      if (this.#abort.signal.aborted) return false;
      throw error;
    }
    // Its offsets recorded in the store too (with its last write round, or alone if it wrote
    // nothing), unless the store's went back since: then the store is checked and replayed instead.
    const ledger = this.#options.storeOffsets?.ledger;
    if (ledger !== undefined) {
      const regressions = await this.#retryStore(() => ledger.finishBatch());
      if (regressions === undefined) return false;
      if (regressions.length > 0) {
        // The batch is not committed: it is read again, from the store's offset where the check
        // replays, else from the committed one (some of its writes may have gone with the store).
        this.requestStoreCheck("store offset went back");
        if (!(await this.#checkStoreOffsets()) && !this.#abort.signal.aborted)
          this.#source = await this.#reopenStream();
        return true;
      }
    }
    // A commit past transaction markers (lag check) goes first: this batch lies at or past it.
    await this.#markerCommit;
    const stopCommit = metrics.phaseSeconds.startTimer({ ...labels, phase: "commit" });
    await this.#commit(offsets);
    stopCommit();
    this.#record(outcome);
    this.#options.onBatch?.(outcome, Date.now());
    return true;
  }

  /** Runs a store operation, retrying it while the store is unavailable; undefined when stopped. */
  async #retryStore<T>(work: () => Promise<T>): Promise<T | undefined> {
    const { metrics, labels, logger } = this.#options;
    try {
      return await retry(work, {
        signal: this.#options.signal,
        isRetryable: (error) => this.#options.isRetryable(error) || isRebalanceError(error),
        onRetry: (error, attempt) => {
          metrics.retries.inc({ ...labels, dependency: dependencyOf(error) });
          this.#options.wait?.retried(dependencyOf(error), error);
          logger.warn(
            { err: error, attempt },
            "reading or recording source offsets in the store failed; retrying",
          );
        },
      });
    } catch (error) {
      if (this.#abort.signal.aborted || this.#options.signal?.aborted) return undefined;
      throw error;
    }
  }

  /**
   * Compares the store's recorded offsets of the assigned partitions with the group's committed ones
   * (store-offsets.ts); where the store is behind, commits the store's offset (the log's start where
   * retention deleted below it) and reopens the stream there, so those records are written again. The
   * writes are conditional (store/ordering.ts: a write older than the stored position is refused), so
   * a replay never overwrites what a later event wrote. True when it replayed.
   */
  async #checkStoreOffsets(): Promise<boolean> {
    const { topic, metrics, labels, logger } = this.#options;
    const { ledger, metrics: replayMetrics } = this.#options.storeOffsets!;
    const cause = this.#checkCause ?? "check";
    this.#checkCause = undefined;
    this.#checkWake = new AbortController();
    this.#nextSignal = AbortSignal.any([this.#abort.signal, this.#checkWake.signal]);
    const consumer = this.#consumer!;
    const held = this.#inBatch;
    this.#inBatch = true;
    try {
      await this.#markerCommit;
      let recreated = false;
      /** Partitions read again from the start of a topic created again (see renewedUnrecorded). */
      let renewed = new Set<number>();
      const plan = await this.#retryStore(async () => {
        // The topic's ID first: another one than before is a new log (the topic deleted and created
        // again), whose offsets have their own field in the store (store/source-offsets.ts).
        const before = ledger.source?.topicId;
        // Unreadable while the topic is away (deleted, not yet created again): the known ID stands
        // until it is back (the lag check then asks for another check).
        const topicId = await currentTopicId(consumer, topic).catch((error: unknown) => {
          if (before === undefined) throw error;
          logger.debug({ err: error }, "reading the topic's ID failed; keeping the one known");
          return before;
        });
        if (ledger.identify(topicId)) {
          recreated = true;
          logger.warn(
            { topic, topicId, previousTopicId: before },
            `the changelog topic ${topic} was deleted and created again (another topic ID): its offsets start anew; reading it from the group's committed offsets`,
          );
        }
        const assigned = consumer.assignments?.find((entry) => entry.topic === topic)?.partitions ?? [];
        if (assigned.length === 0) return [];
        const committed =
          (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: assigned }] })).get(topic) ??
          [];
        const stored = await ledger.read(assigned);
        // A partition with an offset committed but none recorded, of which this worker knows none (a
        // version its bootstrap handed over, a partition with no batch since): the store holds what
        // lies below the committed offset, which is recorded, so a store restored to before its
        // first batch is found behind from there (not from the log's start, nor, after a restart,
        // not at all).
        const unrecorded = assigned.filter(
          (partition) =>
            (stored.get(partition) ?? null) === null &&
            ledger.expected(partition) === undefined &&
            (committed[partition] ?? -1n) > 0n,
        );
        // Unless the topic was created again and nothing is recorded of it since: the committed offset
        // may be a batch of the deleted log committed onto the new one, past its first records. Those
        // partitions are read again from the new log's start (topic-recreated: duplicates at most, and
        // no loss of the store's, so not counted as a store replay).
        renewed = new Set(unrecorded.filter((partition) => ledger.renewedUnrecorded(partition)));
        const init = unrecorded
          .filter((partition) => !renewed.has(partition))
          .map((partition) => ({ partition, offset: committed[partition]! }));
        for (const [partition, offset] of await ledger.init(init)) stored.set(partition, offset);
        const logStart = (await consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? [];
        const partitions = assigned.map((partition) => ({
          partition,
          stored: stored.get(partition) ?? null,
          committed: committed[partition] ?? -1n,
          expected: ledger.expected(partition),
          position: ledger.position(partition),
          logStart: logStart[partition] ?? 0n,
          renewed: renewed.has(partition),
        }));
        for (const { partition, stored: offset } of partitions) ledger.setExpected(partition, offset);
        return planReplays(partitions);
      });
      if (plan === undefined) return false;
      if (plan.length === 0) {
        // A batch in hand, or records the stream buffered or its fetch position, read before the topic
        // was created again belong to the deleted log: their offsets mean nothing in the new one
        // (committing them could skip its records). Read again from the committed offsets.
        if (!recreated) return false;
        // Stopping: no new stream (its group join would run during the shutdown); the batch in hand
        // stays uncommitted, as the caller's `true` tells it.
        if (this.#abort.signal.aborted) return true;
        this.#source = await this.#reopenStream();
        return true;
      }
      for (const replay of plan) {
        const partition = String(replay.partition);
        const replayed = Number(replay.upTo - replay.from);
        // A topic created again lost the store nothing: counted under its own cause, not in the
        // replays /readyz shows (the operator's storeReplays and StoreReplayed), and its group offset
        // is the deleted topic's, so no offsets are counted as read again.
        const lostWrites = storeLost(replay.cause);
        replayMetrics.replays.inc({ ...labels, partition, cause: replay.cause });
        if (lostWrites) {
          this.replays.replays++;
          this.replays.replayedOffsets += replayed;
          replayMetrics.replayedOffsets.inc({ ...labels, partition }, replayed);
        } else this.recreatedReads.partitions++;
        logger.warn(
          {
            topic,
            partition: replay.partition,
            storeOffset: replay.storeOffset?.toString() ?? null,
            doneOffset: replay.upTo.toString(),
            resumeAt: replay.from.toString(),
            cause: replay.cause,
            trigger: cause,
          },
          replay.cause === "topic-recreated"
            ? `the changelog topic ${topic} was created again and nothing of its partition ${partition} is recorded in the store under the new topic ID: the group's offset ${replay.upTo} may be a batch of the deleted topic committed onto the new one, so ${topic}/${partition} is read again from offset ${replay.from} (the store lost nothing; duplicates at most)`
            : replay.storeOffset === null
              ? `the store lost its recorded offset of ${topic}/${partition} (done up to ${replay.upTo}): wiped or restored; replaying from offset ${replay.from}`
              : `the store holds the writes of ${topic}/${partition} only up to offset ${replay.storeOffset}, this pipeline had them done up to ${replay.upTo} (committed, or recorded for a batch not committed yet): the store was restored or failed over behind; replaying from ${replay.from}`,
        );
        if (replay.lost > 0) {
          if (lostWrites) this.replays.lost += replay.lost;
          else this.recreatedReads.lost += replay.lost;
          replayMetrics.replayLost.inc({ ...labels, partition }, replay.lost);
          metrics.sourceRecordsLost.inc({ ...labels, partition }, replay.lost);
          logger.error(
            {
              topic,
              partition: replay.partition,
              storeOffset: replay.storeOffset?.toString() ?? null,
              logStart: replay.from.toString(),
              records: replay.lost,
            },
            lostWrites
              ? `retention deleted ${replay.lost} records of ${topic}/${partition} that the store lost: they cannot be replayed (their entities stay stale until they change); replaying the rest`
              : `retention deleted ${replay.lost} records of ${topic}/${partition}, created again, before they were read: their entities stay stale until they change; reading the rest`,
          );
        }
      }
      const rewound = plan.map((replay) => ({
        topic,
        partition: replay.partition,
        offset: replay.from,
        leaderEpoch: -1,
      }));
      // Where retention deleted part of what the store lost, the store records the log's start as
      // done: the loss is reported once, not found again at the next check.
      const skipped = rewound.filter((_, index) => plan[index]!.lost > 0);
      if (skipped.length > 0 && (await this.#retryStore(() => ledger.record(skipped))) === undefined)
        return false;
      await this.#commit(rewound);
      // Stopping: no new stream (see above); the next owner reads from the offsets just committed.
      if (this.#abort.signal.aborted) return true;
      this.#source = await this.#reopenStream();
      return true;
    } finally {
      this.#inBatch = held;
    }
  }

  async #commit(offsets: readonly NextOffset[]): Promise<void> {
    const { metrics, labels, logger } = this.#options;
    try {
      // Retried until the broker is back: the batch is in both sinks, only its offsets are missing.
      await retry(() => this.#consumer!.commit({ offsets: [...offsets] }), {
        isRetryable: (error) => this.#options.isRetryable(error) && !isRebalanceError(error),
        signal: this.#options.signal,
        onRetry: (error, attempt) => {
          metrics.retries.inc({ ...labels, dependency: "kafka" });
          this.#options.wait?.retried("kafka", error);
          logger.warn({ err: error, attempt }, "offset commit failed; retrying");
        },
      });
      if (this.#firstCommitAtMs === undefined) {
        this.#firstCommitAtMs = Date.now();
        // Recovery figures: a restart under the same group.instance.id must not wait for a session timeout.
        logger.info(
          {
            msSinceProcessStart: Math.round(performance.now()),
            msSinceGroupJoin: this.#firstCommitAtMs - this.#joinStartedAtMs,
          },
          "first offsets committed",
        );
      }
    } catch (error) {
      // After a rebalance took these partitions away, their new owner resumes from the last commit and
      // replays the batch; the store's newer-wins writes make that harmless, so this is not fatal.
      if (isRebalanceError(error))
        this.#options.logger.warn(
          { err: error },
          "offset commit refused after a rebalance; the new owner replays the batch",
        );
      else throw error;
    }
  }

  #record(outcome: BatchOutcome): void {
    const { metrics, labels } = this.#options;
    const totals = this.totals;
    totals.batches++;
    for (const key of countKeys) totals[key] += outcome[key];
    metrics.consumed.inc(labels, outcome.consumed);
    metrics.embedded.inc(labels, outcome.embedded);
    metrics.skippedUnchanged.inc(labels, outcome.skippedUnchanged);
    metrics.skippedStale.inc(labels, outcome.skippedStale);
    metrics.deleted.inc(labels, outcome.deleted);
    for (const [code, count] of Object.entries(outcome.deadLetterCodes))
      metrics.deadLettered.inc({ ...labels, code }, count);
    outcome.visibleEventTimesMs.forEach((eventTime, index) => {
      const freshnessMs = Math.max(0, outcome.visibleStoredAtMs[index]! - eventTime);
      metrics.freshness.observe(labels, freshnessMs / 1000);
      this.#freshness.observe(freshnessMs);
    });
  }
}

/**
 * Kafka's ID of `topic` as the broker has it now (fresh metadata); '' where the broker names none
 * (Metadata before v10, where the client puts the topic's name in its place).
 */
async function currentTopicId(
  consumer: Consumer<Buffer, Buffer, Buffer, Buffer>,
  topic: string,
): Promise<string> {
  const metadata = await consumer.metadata({ topics: [topic], forceUpdate: true });
  return topicIdOf(topic, metadata.topics.get(topic)?.id) ?? "";
}

/** A topic ID from the client's metadata; undefined when absent, '' when it is the topic's name. */
function topicIdOf(topic: string, id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  return id === topic ? "" : id;
}

const countKeys = [
  "consumed",
  "embedded",
  "skippedUnchanged",
  "skippedStale",
  "deleted",
  "deadLettered",
  "inferenceTexts",
] as const satisfies readonly (keyof WorkerTotals & keyof BatchOutcome)[];

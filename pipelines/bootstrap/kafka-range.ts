/**
 * Reads fixed offset ranges of a Kafka topic: capture the end offsets (watermarks), then read one
 * partition from its start up to a watermark. It uses the Fetch API directly rather than a consumer
 * stream: `consume()` always joins a consumer group and reads whatever the group assigns, while a
 * shard needs exactly its own partitions, must stop at an exact offset, and must commit nothing.
 */
import { Consumer, ListOffsetTimestamps, type ClusterMetadata } from "@platformatic/kafka";
import type { SourceRecord } from "../shared/decode.ts";
import type { kafkaClientOptions } from "../shared/kafka.ts";
import { isRetryableKafkaError } from "../shared/kafka.ts";
import {
  CONTROL_BATCH,
  dropAbortedRecords,
  type FetchResponse,
  type FetchResponsePartition,
} from "../shared/aborted-transactions.ts";
import { retry } from "../../plumbing/retry.ts";
import { untilAborted } from "../../plumbing/until-aborted.ts";
import type { PartitionWatermark } from "./config.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";

const OFFSET_OUT_OF_RANGE = 1;

/** A client for reading offset ranges; owns one consumer that never joins its group. */
export class KafkaRangeReader {
  readonly #consumer: Consumer<Buffer, Buffer, Buffer, Buffer>;
  readonly #topic: string;
  readonly #signal: AbortSignal | undefined;
  readonly #onRetry: ((error: unknown) => void) | undefined;

  constructor(
    clientOptions: ReturnType<typeof kafkaClientOptions>,
    topic: string,
    options: { signal?: AbortSignal; onRetry?: (error: unknown) => void } = {},
  ) {
    // The group id is required by the client but never used: no join, no commit.
    this.#consumer = new Consumer({ ...clientOptions, groupId: `jude-bootstrap-unused`, autocommit: false });
    this.#topic = topic;
    this.#signal = options.signal;
    this.#onRetry = options.onRetry;
  }

  /** End offsets (exclusive) of every partition now: the watermarks of a run that starts now. */
  async captureWatermarks(): Promise<PartitionWatermark[]> {
    const offsets = await this.#retry(() =>
      this.#consumer.listOffsets({ topics: [this.#topic], timestamp: ListOffsetTimestamps.LATEST }),
    );
    return (offsets.get(this.#topic) ?? []).map((offset, partition) => ({
      partition,
      offset: Number(offset),
    }));
  }

  /** First offset still in the log of each partition (retention and compaction move it forward). */
  async startOffsets(partitions: readonly number[]): Promise<Map<number, number>> {
    if (partitions.length === 0) return new Map();
    const offsets = await this.#retry(() =>
      this.#consumer.listOffsets({
        topics: [this.#topic],
        partitions: { [this.#topic]: [...partitions] },
        timestamp: ListOffsetTimestamps.EARLIEST,
      }),
    );
    const byPartition = offsets.get(this.#topic) ?? [];
    return new Map(partitions.map((partition) => [partition, Number(byPartition[partition] ?? 0n)]));
  }

  /**
   * Reads `partition` from `from` up to `to` (exclusive), yielding records in offset order, one fetch
   * response at a time. Transaction markers and aborted records are skipped (read_committed).
   */
  async *read(partition: number, from: number, to: number): AsyncGenerator<SourceRecord[]> {
    let position = BigInt(from);
    const end = BigInt(to);
    while (position < end) {
      this.#signal?.throwIfAborted();
      const fetchOffset = position;
      const response = await this.#retry(
        async (): Promise<FetchResponse | { outOfRange: FetchResponsePartition }> => {
          const { node, topicId } = await this.#leaderOf(partition);
          try {
            return await this.#consumer.fetch({
              node,
              maxWaitTime: 500,
              topics: [
                {
                  topicId,
                  partitions: [
                    {
                      partition,
                      fetchOffset,
                      currentLeaderEpoch: -1,
                      lastFetchedEpoch: -1,
                      partitionMaxBytes: 8 * 1024 * 1024,
                    },
                  ],
                },
              ],
            });
          } catch (error) {
            const partitionError = (error as { response?: FetchResponse }).response?.responses[0]
              ?.partitions[0];
            if (partitionError?.errorCode === OFFSET_OUT_OF_RANGE) return { outOfRange: partitionError };
            throw error;
          }
        },
      );
      if ("outOfRange" in response) {
        // The log start moved past our position (retention): what was there is gone for everyone, and
        // the nearline path never saw it either. Continue from the new start.
        const start = (await this.startOffsets([partition])).get(partition) ?? 0;
        if (BigInt(start) <= position)
          throw new PipelineError(
            PipelineErrorCodes.OFFSET_OUT_OF_RANGE,
            `offset ${position} of partition ${partition} is out of range`,
          );
        position = BigInt(start);
        continue;
      }
      const result = response.responses[0]?.partitions.find((each) => each.partitionIndex === partition);
      const records: SourceRecord[] = [];
      let next = position;
      // The client drops an aborted transaction's records only when its abort marker is in the same
      // response; one larger than a fetch (partitionMaxBytes) comes in pieces (see dropAbortedRecords).
      if (result !== undefined) dropAbortedRecords(result);
      for (const batch of result?.records ?? []) {
        const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
        if (batchEnd > next) next = batchEnd;
        if ((batch.attributes & CONTROL_BATCH) !== 0) continue;
        for (const record of batch.records) {
          const offset = batch.firstOffset + BigInt(record.offsetDelta);
          // A fetch may start inside a batch (the broker returns whole batches) or pass the watermark.
          if (offset < position || offset >= end) continue;
          records.push({
            key: record.key?.length ? record.key : null,
            value: record.value ?? null, // null is a tombstone, empty is not
            timestamp: batch.firstTimestamp + record.timestampDelta,
            partition,
            offset,
          });
        }
      }
      if (next === position) {
        // Nothing returned below the watermark: the log ends earlier than the watermark said (e.g.
        // the leader changed uncleanly). Nothing more can be read; stop rather than spin.
        const highWatermark = result?.highWatermark ?? -1n;
        if (highWatermark >= 0n && highWatermark <= position) return;
        continue;
      }
      position = next < end ? next : end;
      if (records.length > 0) yield records;
    }
  }

  /** Closes the client. */
  async close(): Promise<void> {
    await this.#consumer.close(true).catch(() => undefined);
  }

  async #leaderOf(partition: number): Promise<{ node: number; topicId: string }> {
    const metadata: ClusterMetadata = await this.#consumer.metadata({ topics: [this.#topic] });
    const topic = metadata.topics.get(this.#topic);
    const leader = topic?.partitions[partition]?.leader;
    if (topic === undefined || leader === undefined || leader < 0) {
      this.#consumer.clearMetadata();
      throw Object.assign(new Error(`no leader for ${this.#topic}/${partition}`), { canRetry: true });
    }
    return { node: leader, topicId: topic.id };
  }

  /**
   * Retries `attempt` until it succeeds or fails for good; the abort ends the wait at once with its
   * reason. The signal alone stops only the retries: a request to a broker that accepts connections and
   * never answers lasts the client's request timeout (30 s) and its own retries, far past the pod's
   * grace period. The abandoned request ends when `close` closes the client.
   */
  #retry<T>(attempt: () => Promise<T>): Promise<T> {
    const attempts = retry(attempt, {
      isRetryable: isRetryableKafkaError,
      onRetry: (error) => {
        this.#consumer.clearMetadata();
        this.#onRetry?.(error);
      },
      signal: this.#signal,
    });
    return this.#signal === undefined ? attempts : untilAborted(attempts, this.#signal);
  }
}

// Starts a bootstrapped version's workers exactly where its bootstrap snapshot ended: before the
// version's worker Deployment is first created, the operator commits the offsets its BootstrapRun
// captured as the committed offsets of the version's consumer group. The workers then resume from the
// group's offsets like any restarted worker, and no event between the snapshot and them is lost. Only
// partitions where the group has not got that far are moved (forward, to the snapshot's end): workers
// of this build start there and only move on, so a group at or past the snapshot is theirs, and
// workers recreated later (their Deployment deleted by hand or by a foreground prune) resume from where
// the group got to instead of being rewound to the snapshot. A group behind it was left by the
// version's workers of an earlier build (a version promoted again after its vectors were collected:
// Kafka keeps an empty group's offsets for offsets.retention.minutes); everything before the snapshot
// is the bootstrap's, so resuming there would only embed days of changelog again. A group that
// already has members refuses the change; it is then running and is left alone.
import { Admin } from "@platformatic/kafka";
import type { NearlinePipeline } from "../../crds/index.ts";
import type { PartitionWatermark } from "../../pipelines/bootstrap/config.ts";
import { kafkaOptions } from "../bootstrap-run/run-io.ts";
import type { SecretValues } from "./secret-reader.ts";

/**
 * Commits `offsets` for `groupId` on the pipeline's changelog topic, for each partition where the group
 * has committed none or an earlier offset; false when none needs it (the group got there) or the group
 * is active.
 */
export async function commitStartOffsets(
  pipeline: NearlinePipeline,
  secrets: SecretValues,
  groupId: string,
  offsets: readonly PartitionWatermark[],
): Promise<boolean> {
  const admin = new Admin(kafkaOptions(pipeline, secrets));
  try {
    const topic = pipeline.spec.source.kafka.topic;
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const committed = new Map(
      (group?.topics.find((entry) => entry.name === topic)?.partitions ?? []).map(
        (partition) => [partition.partitionIndex, partition.committedOffset] as const,
      ),
    );
    const behind = offsets.filter((entry) => (committed.get(entry.partition) ?? -1n) < BigInt(entry.offset));
    if (behind.length === 0) return false;
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: topic,
          partitionOffsets: behind.map((entry) => ({
            partition: entry.partition,
            offset: BigInt(entry.offset),
          })),
        },
      ],
    });
    return true;
  } catch (error) {
    // NON_EMPTY_GROUP (68) or a rebalance in progress: the version's workers already consume.
    if (/NON_EMPTY_GROUP|REBALANCE_IN_PROGRESS|non.?empty/i.test(JSON.stringify(describe(error))))
      return false;
    throw error;
  } finally {
    await admin.close();
  }
}

function describe(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const withErrors = error as Error & { errors?: unknown[]; response?: unknown };
  return { message: error.message, errors: withErrors.errors?.map(describe), response: withErrors.response };
}

// Starts a bootstrapped version's workers exactly where its bootstrap snapshot ended: before the
// version's worker Deployment is first created, the operator commits the offsets its BootstrapRun
// captured as the committed offsets of the version's consumer group. The workers then resume from the
// group's offsets like any restarted worker, and no event between the snapshot and them is lost. Only
// a group with no committed offsets on the topic is given them: workers recreated later (their
// Deployment deleted by hand or by a foreground prune, the version's workers scaled away and rolled
// back to) resume from where the group got to instead of being rewound to the snapshot. A group that
// already has members refuses the change; it is then running and is left alone.
import { Admin } from "@platformatic/kafka";
import type { NearlinePipeline } from "../../crds/index.ts";
import type { PartitionWatermark } from "../../pipelines/bootstrap/config.ts";
import { kafkaOptions } from "../bootstrap-run/run-io.ts";
import type { SecretValues } from "./secret-reader.ts";

/**
 * Commits `offsets` for `groupId` on the pipeline's changelog topic; false when the group already has
 * committed offsets there or is active.
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
    const progressed = group?.topics
      .find((entry) => entry.name === topic)
      ?.partitions.some((partition) => partition.committedOffset >= 0n);
    if (progressed === true) return false;
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: topic,
          partitionOffsets: offsets.map((entry) => ({
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

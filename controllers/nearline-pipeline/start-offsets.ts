// Starts a bootstrapped version's workers exactly where its bootstrap snapshot ended: before the
// version's worker Deployment is first created, the operator commits the offsets its BootstrapRun
// captured as the committed offsets of the version's consumer group. The workers then resume from the
// group's offsets like any restarted worker, and no event between the snapshot and them is lost. A
// group that already has members refuses the change; it is then running and is left alone.
import { Admin } from "@platformatic/kafka";
import type { NearlinePipeline } from "../../crds/index.ts";
import type { PartitionWatermark } from "../../pipelines/bootstrap/config.ts";
import { kafkaOptions } from "../bootstrap-run/run-io.ts";
import type { SecretValues } from "./secret-reader.ts";

/** Commits `offsets` for `groupId` on the pipeline's changelog topic; false when the group is active. */
export async function commitStartOffsets(
  pipeline: NearlinePipeline,
  secrets: SecretValues,
  groupId: string,
  offsets: readonly PartitionWatermark[],
): Promise<boolean> {
  const admin = new Admin(kafkaOptions(pipeline, secrets));
  try {
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: pipeline.spec.source.kafka.topic,
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

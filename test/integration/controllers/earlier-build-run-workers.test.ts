// A version promoted again after its vectors were collected (a rollback beyond retention; or a store
// that lost the build) is a new build. A Succeeded BootstrapRun left from its first build (a user's:
// the promotion deletes only its own) captured offsets of a snapshot the store no longer holds: the
// version's workers wait for the current build's run, the pipeline saying which run it does not use
// and why, and start from the offsets that run captures (not from where the version's consumer group
// got to in its earlier life). With the NearlinePipeline and BootstrapRun controllers in-process on
// the testbed (real API server, real Kafka), kwok nodes.
import { Admin } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { desiredVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import { workerConsumerGroup } from "../../../controllers/nearline-pipeline/worker-config.ts";
import { parseEmbeddingModel, parseNearlinePipeline } from "../../../crds/index.ts";
import { bootstrapBrokers, createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, snapshotEvents, storeSecret } from "./objects.ts";

type Condition = { type: string; status: string; reason: string; message: string };
type Pipeline = { status?: { conditions?: Condition[] } };
type Run = { status?: { phase?: string; conditions?: Condition[] } };

async function committed(groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const partitions = group?.topics.find((entry) => entry.name === topic)?.partitions ?? [];
    return new Map(partitions.map((entry) => [entry.partitionIndex, Number(entry.committedOffset)]));
  } finally {
    await admin.close();
  }
}

/** Commits `offsets` for the group, as the version's workers did after their sinks acknowledged. */
async function commit(groupId: string, topic: string, offsets: Record<number, number>): Promise<void> {
  const admin = new Admin({ clientId: "jude-test-admin", bootstrapBrokers: bootstrapBrokers() });
  try {
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [
        {
          name: topic,
          partitionOffsets: Object.entries(offsets).map(([partition, offset]) => ({
            partition: Number(partition),
            offset: BigInt(offset),
          })),
        },
      ],
    });
  } finally {
    await admin.close();
  }
}

describe("workers of a version built again, beside a Succeeded run of its earlier build", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    // A 5 s pipeline poll (30 s in production): the record the test applies wakes no pipeline.
    harness = await startControllers("earlier-build-run", { settings: { pipelinePollMs: 5_000 } });
    topic = uniqueTopic("earlier-build-run");
    await createTopics([topic], 2);
    await produceEvents(topic, snapshotEvents([5, 3]));
    await applyObjects(harness.namespace, [storeSecret(), model(), pipeline("jobs", topic)]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("wait for the current build's run, say why the earlier one is not used, and start from the new offsets", async () => {
    const ns = harness.namespace;
    // The user's run of v2's first build: Succeeded days ago, at offsets long behind today's.
    const first = bootstrapRun("jobs-minilm-v2-first", "jobs", 1);
    (first.spec as { modelVersion: string }).modelVersion = "minilm-v2";
    await applyObjects(ns, [first]);
    // v2 is not live yet: the run's controller holds it Pending; finished, it is never touched again.
    await waitForObject<Run>(
      ns,
      "bootstraprun/jobs-minilm-v2-first",
      "the first run held",
      (object) => object.status?.phase === "Pending",
    );
    const firstCaptured = "2026-12-01T00:00:00Z";
    await kubectl([
      "patch",
      "-n",
      ns,
      "bootstraprun/jobs-minilm-v2-first",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          phase: "Succeeded",
          progress: { total: 2, processed: 2, percent: 100 },
          watermarks: {
            capturedTime: firstCaptured,
            topic,
            partitions: [
              { partition: 0, offset: 1 },
              { partition: 1, offset: 1 },
            ],
          },
        },
      }),
    ]);

    // v2's workers of that first build got to offset 2 of each partition before they were scaled away
    // (the group keeps its offsets: Kafka expires an empty group's only after offsets.retention.minutes).
    const stored = parseEmbeddingModel(await kubectlJson(["get", "-n", ns, "embeddingmodel/jude-minilm"]));
    const jobs = parseNearlinePipeline(await kubectlJson(["get", "-n", ns, "nearlinepipeline/jobs"]));
    const group = workerConsumerGroup(jobs, "minilm-v2");
    await commit(group, topic, { 0: 2, 1: 2 });

    // v2 promoted again (its vectors collected since): what the EmbeddingModel controller records.
    const buildStarted = "2026-12-02T00:00:00Z";
    const record = desiredVersionRecord(stored, {
      version: "minilm-v2",
      spec: { model: stored.spec.model, prompts: stored.spec.prompts, serving: stored.spec.serving },
      promotionStartTime: buildStarted,
      workers: true,
      fromBootstrap: true,
    });
    await applyObjects(ns, [{ ...record, metadata: { ...record.metadata, namespace: undefined } }]);

    const held = await waitForObject<Pipeline>(
      ns,
      "nearlinepipeline/jobs",
      "v2's workers held back, the earlier build's run named",
      (object) =>
        object.status?.conditions?.some(
          (entry) =>
            entry.reason === "WaitingForModel" &&
            entry.message.includes("BootstrapRun jobs-minilm-v2-first filled an earlier build"),
        ) === true,
    );
    const reconciling = held.status?.conditions?.find((entry) => entry.type === "Reconciling");
    expect(reconciling?.message).toContain(
      `BootstrapRun jobs-minilm-v2-first filled an earlier build of version minilm-v2 (its snapshot was captured at ${firstCaptured}, before this build started at ${buildStarted}), so its offsets are not used`,
    );
    expect(Object.fromEntries(await committed(group, topic))).toEqual({ 0: 2, 1: 2 });
    const v2Workers = ["get", "-n", ns, "deployment/jobs-minilm-v2-nearline", "--ignore-not-found"];
    expect((await kubectl(v2Workers)).trim()).toBe("");

    // The current build's run captures today's offsets: the workers start from those, not from where
    // the first build's workers left the group (days of changelog again, behind this build's snapshot).
    const current = bootstrapRun("jobs-minilm-v2", "jobs", 2);
    (current.spec as { modelVersion: string }).modelVersion = "minilm-v2";
    await applyObjects(ns, [current]);
    await waitForObject(ns, "deployment/jobs-minilm-v2-nearline", "v2 workers", () => true);
    expect(Object.fromEntries(await committed(group, topic))).toEqual({ 0: 5, 1: 3 });
  });
});

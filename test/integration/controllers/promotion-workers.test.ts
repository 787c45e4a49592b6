// A promoted version's nearline workers start exactly where its bootstrap snapshot ended: with the
// NearlinePipeline and BootstrapRun controllers on the testbed (real Kafka), a version record that
// asks for bootstrapped workers holds the workers back until the run captured its watermarks, then
// the version's consumer group is committed at those offsets before its worker Deployment exists,
// and only then: workers recreated later resume from where the group got to.
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

const produced = [5, 3];

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

/** Commits `offsets` for the group, as the version's workers do after their sinks acknowledged. */
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

describe("workers of a promoted version", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    // A 5 s pipeline poll (--pipeline-poll-seconds; 30 s in production): the version record the test
    // applies wakes no pipeline, so the held-back workers' status came only at the 30 s poll.
    harness = await startControllers("promotion-workers", { settings: { pipelinePollMs: 5_000 } });
    topic = uniqueTopic("promotion-workers");
    await createTopics([topic], produced.length);
    await produceEvents(topic, snapshotEvents(produced));
    await applyObjects(harness.namespace, [storeSecret(), model(), pipeline("jobs", topic)]);
    // The records below stand in for the EmbeddingModel controller, which has looked at the model.
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("start from the offsets the version's BootstrapRun captured", async () => {
    const ns = harness.namespace;
    const stored = parseEmbeddingModel(await kubectlJson(["get", "-n", ns, "embeddingmodel/jude-minilm"]));
    const jobs = parseNearlinePipeline(await kubectlJson(["get", "-n", ns, "nearlinepipeline/jobs"]));
    // What the EmbeddingModel controller records for a version it promotes: workers from the bootstrap.
    const record = desiredVersionRecord(stored, {
      version: "minilm-v2",
      spec: { model: stored.spec.model, prompts: stored.spec.prompts, serving: stored.spec.serving },
      promotionStartTime: "2026-12-02T00:00:00Z",
      workers: true,
      fromBootstrap: true,
    });
    await applyObjects(ns, [{ ...record, metadata: { ...record.metadata, namespace: undefined } }]);
    const held = await waitForObject<{
      status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
    }>(
      ns,
      "nearlinepipeline/jobs",
      "workers held back for the offsets",
      (object) => object.status?.conditions?.some((entry) => entry.reason === "WaitingForModel") === true,
    );
    // A live version without workers yet is not caught up, whatever the other version's lag.
    expect(held.status?.conditions?.find((entry) => entry.type === "CaughtUp")).toMatchObject({
      status: "Unknown",
      reason: "WaitingForWorkers",
      message: expect.stringContaining("version minilm-v2: its workers have not started"),
    });
    const group = workerConsumerGroup(jobs, "minilm-v2");
    expect((await committed(group, topic)).size).toBe(0);

    const run = bootstrapRun("jobs-minilm-v2", "jobs", 2);
    (run.spec as { modelVersion: string }).modelVersion = "minilm-v2";
    await applyObjects(ns, [run]);
    await waitForObject(ns, "deployment/jobs-minilm-v2-nearline", "v2 workers", () => true);
    expect(Object.fromEntries(await committed(group, topic))).toEqual({ 0: 5, 1: 3 });
  });

  it("recreates deleted workers where their group got to, not back at the snapshot", async () => {
    const ns = harness.namespace;
    const jobs = parseNearlinePipeline(await kubectlJson(["get", "-n", ns, "nearlinepipeline/jobs"]));
    const group = workerConsumerGroup(jobs, "minilm-v2");
    // The workers consumed what arrived after the snapshot and committed it (kwok's pods do not run
    // them, so the test commits for them; the group has no members, as after a foreground delete or
    // with crash-looping workers).
    await produceEvents(topic, snapshotEvents([2, 2]));
    await commit(group, topic, { 0: 7, 1: 5 });
    const deployment = "deployment/jobs-minilm-v2-nearline";
    const before = await kubectlJson<{ metadata: { uid: string } }>(["get", "-n", ns, deployment]);
    await kubectl(["delete", "-n", ns, deployment, "--wait=true"]);
    await waitForObject<{ metadata: { uid: string } }>(
      ns,
      deployment,
      "the v2 workers recreated",
      (object) => object.metadata.uid !== before.metadata.uid,
    );
    expect(Object.fromEntries(await committed(group, topic))).toEqual({ 0: 7, 1: 5 });
  });
});

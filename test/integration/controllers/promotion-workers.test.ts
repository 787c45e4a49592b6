// A promoted version's nearline workers start exactly where its bootstrap snapshot ended: with the
// NearlinePipeline and BootstrapRun controllers on the testbed (real Kafka), a version record that
// asks for bootstrapped workers holds the workers back until the run captured its watermarks, then
// the version's consumer group is committed at those offsets before its worker Deployment exists,
// and only then: workers recreated later resume from where the group got to.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerConsumerGroup } from "../../../controllers/nearline-pipeline/worker-config.ts";
import { parseNearlinePipeline } from "../../../crds/index.ts";
import { commitGroupOffsets, committedByPartition, produceEvents } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  minilmVersionRecord,
  startJobsControllers,
  waitForObject,
  type ControllersHarness,
  type WithConditions,
} from "./harness.ts";
import { bootstrapRun, snapshotEvents } from "./objects.ts";

describe("workers of a promoted version", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    ({ harness, topic } = await startJobsControllers("promotion-workers", [5, 3]));
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("start from the offsets the version's BootstrapRun captured", async () => {
    const ns = harness.namespace;
    const jobs = parseNearlinePipeline(await kubectlJson(["get", "-n", ns, "nearlinepipeline/jobs"]));
    // What the EmbeddingModel controller records for a version it promotes: workers from the bootstrap.
    await applyObjects(ns, [
      await minilmVersionRecord(ns, "minilm-v2", {
        promotionStartTime: "2026-12-02T00:00:00Z",
        fromBootstrap: true,
      }),
    ]);
    const held = await waitForObject<WithConditions>(
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
    expect((await committedByPartition(group, topic)).size).toBe(0);

    await applyObjects(ns, [bootstrapRun("jobs-minilm-v2", "jobs", 2, "minilm-v2")]);
    await waitForObject(ns, "deployment/jobs-minilm-v2-nearline", "v2 workers", () => true);
    expect(Object.fromEntries(await committedByPartition(group, topic))).toEqual({ 0: 5, 1: 3 });
  });

  it("recreates deleted workers where their group got to, not back at the snapshot", async () => {
    const ns = harness.namespace;
    const jobs = parseNearlinePipeline(await kubectlJson(["get", "-n", ns, "nearlinepipeline/jobs"]));
    const group = workerConsumerGroup(jobs, "minilm-v2");
    // The workers consumed what arrived after the snapshot and committed it (kwok's pods do not run
    // them, so the test commits for them; the group has no members, as after a foreground delete or
    // with crash-looping workers).
    await produceEvents(topic, snapshotEvents([2, 2]));
    await commitGroupOffsets(group, topic, { 0: 7, 1: 5 });
    const deployment = "deployment/jobs-minilm-v2-nearline";
    const before = await kubectlJson<{ metadata: { uid: string } }>(["get", "-n", ns, deployment]);
    await kubectl(["delete", "-n", ns, deployment, "--wait=true"]);
    await waitForObject<{ metadata: { uid: string } }>(
      ns,
      deployment,
      "the v2 workers recreated",
      (object) => object.metadata.uid !== before.metadata.uid,
    );
    expect(Object.fromEntries(await committedByPartition(group, topic))).toEqual({ 0: 7, 1: 5 });
  });
});

// A version promoted again after its vectors were collected (a rollback beyond retention; or a store
// that lost the build) is a new build. A Succeeded BootstrapRun left from its first build (a user's:
// the promotion deletes only its own) captured offsets of a snapshot the store no longer holds: the
// version's workers wait for the current build's run, the pipeline saying which run it does not use
// and why, and start from the offsets that run captures (not from where the version's consumer group
// got to in its earlier life). With the NearlinePipeline and BootstrapRun controllers in-process on
// the testbed (real API server, real Kafka), kwok nodes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerConsumerGroup } from "../../../controllers/nearline-pipeline/worker-config.ts";
import { parseNearlinePipeline } from "../../../crds/index.ts";
import { commitGroupOffsets, committedByPartition } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  minilmVersionRecord,
  patchStatus,
  startJobsControllers,
  waitForObject,
  type Condition,
  type ControllersHarness,
  type WithConditions,
} from "./harness.ts";
import { bootstrapRun } from "./objects.ts";

type Run = { status?: { phase?: string; conditions?: Condition[] } };

describe("workers of a version built again, beside a Succeeded run of its earlier build", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    ({ harness, topic } = await startJobsControllers("earlier-build-run", [5, 3]));
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("wait for the current build's run, say why the earlier one is not used, and start from the new offsets", async () => {
    const ns = harness.namespace;
    // The user's run of v2's first build: Succeeded days ago, at offsets long behind today's.
    await applyObjects(ns, [bootstrapRun("jobs-minilm-v2-first", "jobs", 1, "minilm-v2")]);
    // v2 is not live yet: the run's controller holds it Pending; finished, it is never touched again.
    await waitForObject<Run>(
      ns,
      "bootstraprun/jobs-minilm-v2-first",
      "the first run held",
      (object) => object.status?.phase === "Pending",
    );
    const firstCaptured = "2026-12-01T00:00:00Z";
    await patchStatus(ns, "bootstraprun/jobs-minilm-v2-first", {
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
    });

    // v2's workers of that first build got to offset 2 of each partition before they were scaled away
    // (the group keeps its offsets: Kafka expires an empty group's only after offsets.retention.minutes).
    const jobs = parseNearlinePipeline(await kubectlJson(["get", "-n", ns, "nearlinepipeline/jobs"]));
    const group = workerConsumerGroup(jobs, "minilm-v2");
    await commitGroupOffsets(group, topic, { 0: 2, 1: 2 });

    // v2 promoted again (its vectors collected since): what the EmbeddingModel controller records.
    const buildStarted = "2026-12-02T00:00:00Z";
    await applyObjects(ns, [
      await minilmVersionRecord(ns, "minilm-v2", { promotionStartTime: buildStarted, fromBootstrap: true }),
    ]);

    const held = await waitForObject<WithConditions>(
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
    expect(Object.fromEntries(await committedByPartition(group, topic))).toEqual({ 0: 2, 1: 2 });
    const v2Workers = ["get", "-n", ns, "deployment/jobs-minilm-v2-nearline", "--ignore-not-found"];
    expect((await kubectl(v2Workers)).trim()).toBe("");

    // The current build's run captures today's offsets: the workers start from those, not from where
    // the first build's workers left the group (days of changelog again, behind this build's snapshot).
    await applyObjects(ns, [bootstrapRun("jobs-minilm-v2", "jobs", 2, "minilm-v2")]);
    await waitForObject(ns, "deployment/jobs-minilm-v2-nearline", "v2 workers", () => true);
    expect(Object.fromEntries(await committedByPartition(group, topic))).toEqual({ 0: 5, 1: 3 });
  });
});

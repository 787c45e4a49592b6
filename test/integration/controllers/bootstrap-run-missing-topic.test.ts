// A BootstrapRun made by hand whose pipeline names a changelog topic that does not exist yet, with the
// pipeline controllers in-process against the testbed's API server and Kafka. The run says so as the
// EmbeddingModel's bootstrap gate does (reason TopicNotFound naming the pipeline, the field and the
// brokers, one Warning Event), not a ReconcileError quoting the Kafka client's "Unknown topic" that
// turns Stalled after a minute of back-off; it starts by itself once the topic exists.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectlJson } from "../../support/kubectl.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
  type WithConditions,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, storeSecret } from "./objects.ts";

type RunObject = WithConditions & {
  status?: { phase?: string; watermarks?: { topic: string; partitions: unknown[] } };
};

describe("a BootstrapRun whose pipeline's changelog topic does not exist", () => {
  let harness: ControllersHarness | undefined;
  const topic = uniqueTopic("run-missing-topic");

  beforeAll(async () => {
    harness = await startControllers("run-topic");
    const ns = harness.namespace;
    await applyObjects(ns, [storeSecret(), model(), pipeline("jobs", topic)]);
    await markModelObserved(ns, "jude-minilm");
  }, 120_000);

  afterAll(async () => {
    await harness?.stop();
  });

  it("says TopicNotFound naming the pipeline, field and brokers, once, and starts once the topic exists", async () => {
    const ns = harness!.namespace;
    await applyObjects(ns, [bootstrapRun("jobs-by-hand", "jobs", 2)]);
    const waiting = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-by-hand",
      "the run to name the missing topic",
      (object) => {
        const ready = conditionOf(object, "Ready");
        if (ready?.reason === "TopicNotFound") return true;
        // A failed reconcile shows what the run said instead.
        if (ready?.reason === "ReconcileError") throw new Error(`Ready: ${ready.reason}: ${ready.message}`);
        return false;
      },
    );
    expect(waiting.status?.phase).toBe("Pending");
    expect(conditionOf(waiting, "Reconciling")).toMatchObject({ status: "True", reason: "TopicNotFound" });
    expect(conditionOf(waiting, "Stalled")?.status).toBe("False");
    const message =
      `NearlinePipeline jobs: spec.source.kafka.topic names topic ${topic}, which does not exist on Kafka at ` +
      `${requireEnv("JUDE_KAFKA_BOOTSTRAP")}: JUDE never creates topics; create it, and the output and ` +
      `dead-letter topics the pipeline names (the operator looks again every 15 s)`;
    expect(conditionOf(waiting, "Ready")?.message).toBe(message);
    const warnings = async () =>
      (
        await kubectlJson<{ items: { reason: string; message: string; count?: number }[] }>([
          "get",
          "events",
          "-n",
          ns,
          "--field-selector",
          "involvedObject.kind=BootstrapRun,involvedObject.name=jobs-by-hand,type=Warning",
        ])
      ).items;
    expect((await warnings()).map((event) => [event.reason, event.message])).toEqual([
      ["TopicNotFound", message],
    ]);

    await createTopics([topic], 2);
    const started = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-by-hand",
      "the run to capture the changelog created meanwhile",
      (object) => object.status?.watermarks !== undefined,
    );
    expect(started.status?.watermarks).toMatchObject({ topic });
    expect(started.status?.watermarks?.partitions).toHaveLength(2);
    await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-by-hand",
      "the run to stop naming the topic",
      (object) => conditionOf(object, "Ready")?.reason !== "TopicNotFound",
    );
    // Told once: the rechecks while the topic was missing added no Event.
    const told = (await warnings()).filter((event) => event.reason === "TopicNotFound");
    expect(told.map((event) => event.count ?? 1)).toEqual([1]);
  }, 180_000);
});

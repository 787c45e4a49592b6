// A BootstrapRun made by hand whose pipeline names a changelog topic that does not exist yet, with the
// BootstrapRun controller alone in-process against the testbed's API server and Kafka. The run says so
// as the EmbeddingModel's bootstrap gate does (reason TopicNotFound naming the pipeline, the field and
// the brokers, one Warning Event), not a ReconcileError quoting the Kafka client's "Unknown topic" that
// turns Stalled after a minute of back-off; it starts by itself once the topic exists. Topics are not
// watched and nothing else changes here (no pipeline controller writes the pipeline's status), so only
// the run's own recheck (every 15 s) can start it.
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { requireEnv } from "../../support/env.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startManager,
  waitForObject,
  warningEventsOf,
  type WithConditions,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, storeSecret } from "./objects.ts";

type RunObject = WithConditions & {
  status?: { phase?: string; watermarks?: { topic: string; partitions: unknown[] } };
};

describe("a BootstrapRun whose pipeline's changelog topic does not exist", () => {
  const ns = `run-topic-${process.pid}-${Date.now().toString(36)}`;
  const topic = uniqueTopic("run-missing-topic");
  let stop: (() => Promise<void>) | undefined;
  let registry = new Registry();
  /** The run controller's reconciles that ended (not failed, not deferred). */
  const reconciled = async () =>
    ((await registry.getSingleMetric("jude_operator_reconciles_total")?.get())?.values ?? [])
      .filter((value) => value.labels.result === "success" || value.labels.result === "requeue")
      .reduce((sum, value) => sum + value.value, 0);

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(ns);
    await applyObjects(ns, [storeSecret(), model(), pipeline("jobs", topic)]);
    // No model controller runs here: say the model was looked at, or the run waits for it.
    await markModelObserved(ns, "jude-minilm");
    stop = startManager(ns, "run-topic-test", (manager) => {
      registry = manager.metrics.registry;
      manager.add(bootstrapRunController({ images: testImages, concurrency: 2, registry }));
    });
  }, 120_000);

  afterAll(async () => {
    await stop?.();
    await deleteNamespace(ns);
  });

  it("says TopicNotFound naming the pipeline, field and brokers, once, and starts once the topic exists", async () => {
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
    const warnings = () => warningEventsOf(ns, "BootstrapRun", "jobs-by-hand");
    expect((await warnings()).map((event) => [event.reason, event.message])).toEqual([
      ["TopicNotFound", message],
    ]);

    // The reconcile that wrote TopicNotFound, and the one its own status write brings, which writes
    // nothing: from then on only the recheck looks at the topic again.
    await waitFor("the run's reconcile after its status write", async () => (await reconciled()) >= 2, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
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

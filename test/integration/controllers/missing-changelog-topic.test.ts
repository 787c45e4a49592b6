// A model whose pipeline names a changelog topic that does not exist yet (the README's steps applied
// before the topics were created), with the EmbeddingModel controller in-process against the testbed's
// API server and Kafka. The BootstrapRun is sized from the changelog's partition count: the model says
// at once that the topic is missing, naming the pipeline and the field (not a ReconcileError quoting the
// Kafka client's "Unknown topic" a minute of failed retries later, with the serving gate's stale
// message meanwhile), and creates the run by itself once the topic exists.
import type { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, type Json } from "../operator/operator-harness.ts";
import { applyObjects, patchStatus, setUpPromotion, type PromotionSetup } from "./harness.ts";
import { bootstrapRun, promotionModelAt } from "./objects.ts";

/** Applies `setup`'s pipeline reading the changelog `topic` instead. */
async function readChangelogFrom(setup: PromotionSetup, topic: string): Promise<void> {
  const pipeline = structuredClone(setup.jobsPipeline);
  ((pipeline.spec as Json).source as Json).kafka = {
    ...(((pipeline.spec as Json).source as Json).kafka as Json),
    topic,
  };
  await applyObjects(setup.namespace, [pipeline]);
}

describe("a pipeline's missing changelog topic", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  const topic = uniqueTopic("missing-changelog");
  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;

  beforeAll(async () => {
    setup = await setUpPromotion("missing-topic", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    namespace = setup.namespace;
    await readChangelogFrom(setup, topic);
  }, 120_000);

  afterAll(async () => {
    await setup?.stop();
  });

  it("names the missing topic and its field at once, and creates the BootstrapRun once it exists", async () => {
    await applyObjects(namespace, [promotionModelAt("v1")]);
    await waitFor(
      "the model to name the missing topic",
      async () => {
        const ready = condition(await model(), "Ready");
        if (ready?.reason === "TopicNotFound") return true;
        // The timeout's message then says what the model said instead.
        throw new Error(`Ready: ${ready?.reason}: ${ready?.message}`);
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    const waiting = await model();
    expect(condition(waiting, "Reconciling")?.status).toBe("True");
    expect(condition(waiting, "Ready")?.message).toContain(
      `NearlinePipeline jobs: spec.source.kafka.topic names topic ${topic}, which does not exist`,
    );
    expect(condition(waiting, "BootstrapComplete")).toMatchObject({
      status: "False",
      reason: "TopicNotFound",
    });
    expect(await getObject("bootstraprun/jobs-v1-promotion", namespace)).toBeUndefined();

    await createTopics([topic], 2);
    await waitFor(
      "the BootstrapRun, sized from the changelog created meanwhile",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const run = (await getObject("bootstraprun/jobs-v1-promotion", namespace)) as Json;
    expect((run.spec as Json).parallelism).toBe(2);
    await waitFor(
      "the model to stop naming the topic",
      async () => condition(await model(), "Ready")?.reason !== "TopicNotFound",
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  }, 180_000);
});

// The version's run is one of an earlier build (its snapshot predates the build's start: the store
// lost the build, or the version is promoted again past retention), and the changelog is gone since:
// the run is deleted and a new one would be sized from the changelog. Said as TopicNotFound like a
// pipeline without a run, not a failed reconcile quoting the topic (a ReconcileError).
describe("a pipeline's missing changelog topic, beside an earlier build's run", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  const topic = uniqueTopic("missing-changelog-rebuild");
  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
  const count = async (registry: Registry, name: string, keep: (labels: Json) => boolean) =>
    ((await registry.getSingleMetric(name)?.get())?.values ?? [])
      .filter((value) => value.labels.controller === "embedding-model" && keep(value.labels))
      .reduce((sum, value) => sum + value.value, 0);

  beforeAll(async () => {
    setup = await setUpPromotion("missing-topic-rb", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    namespace = setup.namespace;
    await readChangelogFrom(setup, topic);
  }, 120_000);

  afterAll(async () => {
    await setup?.stop();
  });

  it("deletes the earlier build's run and says TopicNotFound, with no failed reconcile", async () => {
    const registry = setup!.operator.registry;
    await applyObjects(namespace, [promotionModelAt("v1")]);
    await waitFor(
      "the model to name the missing topic",
      async () => condition(await model(), "Ready")?.reason === "TopicNotFound",
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    // v1's run of an earlier build, the model's own: its snapshot taken long before v1's build started.
    const uid = ((await model()).metadata as Json).uid as string;
    const run = bootstrapRun("jobs-v1-promotion", "jobs", 1, "v1");
    (run.metadata as Json).ownerReferences = [
      { apiVersion: "jude.dev/v1alpha1", kind: "EmbeddingModel", name: "jobs-model", uid, controller: true },
    ];
    await applyObjects(namespace, [run]);
    // Seen (no snapshot yet: the current build's), the gate follows the run, not the topic.
    await waitFor(
      "the model to follow the run",
      async () => condition(await model(), "Ready")?.reason !== "TopicNotFound",
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    const errorsBefore = await count(registry, "jude_operator_reconcile_errors_total", () => true);
    await patchStatus(namespace, "bootstraprun/jobs-v1-promotion", {
      phase: "Succeeded",
      watermarks: { capturedTime: "2020-01-01T00:00:00Z", topic, partitions: [{ partition: 0, offset: 1 }] },
    });
    await waitFor(
      "the earlier build's run deleted",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) === undefined,
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    // Two successful reconciles after the deletion: the one that deleted it, if it failed, was before.
    const done = async () =>
      count(
        registry,
        "jude_operator_reconciles_total",
        (labels) => labels.result === "success" || labels.result === "requeue",
      );
    const after = await done();
    await waitFor("two more reconciles", async () => (await done()) >= after + 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    expect(condition(await model(), "Ready")?.reason).toBe("TopicNotFound");
    expect(await count(registry, "jude_operator_reconcile_errors_total", () => true)).toBe(errorsBefore);
  }, 180_000);
});

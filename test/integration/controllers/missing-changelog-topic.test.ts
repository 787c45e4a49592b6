// A model whose pipeline names a changelog topic that does not exist yet (the README's steps applied
// before the topics were created), with the EmbeddingModel controller in-process against the testbed's
// API server and Kafka. The BootstrapRun is sized from the changelog's partition count: the model says
// at once that the topic is missing, naming the pipeline and the field (not a ReconcileError quoting the
// Kafka client's "Unknown topic" a minute of failed retries later, with the serving gate's stale
// message meanwhile), and creates the run by itself once the topic exists.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, type Json } from "../operator/operator-harness.ts";
import { applyObjects, setUpPromotion, type PromotionSetup } from "./harness.ts";
import { promotionModelAt } from "./objects.ts";

describe("a pipeline's missing changelog topic", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  const topic = uniqueTopic("missing-changelog");
  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;

  beforeAll(async () => {
    setup = await setUpPromotion("missing-topic", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    namespace = setup.namespace;
    const pipeline = structuredClone(setup.jobsPipeline);
    ((pipeline.spec as Json).source as Json).kafka = {
      ...(((pipeline.spec as Json).source as Json).kafka as Json),
      topic,
    };
    await applyObjects(namespace, [pipeline]);
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

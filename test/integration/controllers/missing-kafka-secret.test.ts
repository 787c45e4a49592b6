// A model whose pipeline reads its changelog through SASL with a credentials Secret that does not exist
// yet, with the EmbeddingModel controller in-process against the testbed's API server and the SASL_SSL
// listener of its Kafka. The BootstrapRun is sized from the changelog's partition count, which the
// operator cannot read without the Secret: the model says so at once, naming the pipeline, the field
// and the Secret (not a ReconcileError a minute of failed retries later, nor "has no key"), and creates
// the run by itself once the Secret exists.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { condition, getObject, type Json } from "../operator/operator-harness.ts";
import { applyObjects, setUpPromotion, type PromotionSetup } from "./harness.ts";
import { promotionModelAt } from "./objects.ts";

describe("a pipeline's missing Kafka SASL Secret", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;

  beforeAll(async () => {
    setup = await setUpPromotion("missingref-sasl", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    namespace = setup.namespace;
    const saslPipeline = structuredClone(setup.jobsPipeline);
    const kafka = ((saslPipeline.spec as Json).source as Json).kafka as Json;
    kafka.bootstrapServers = [requireEnv("JUDE_KAFKA_SASL_SSL_BOOTSTRAP")];
    kafka.tls = { caSecretRef: { name: "kafka-ca", key: "ca.crt" } };
    kafka.sasl = {
      mechanism: "SCRAM-SHA-512",
      usernameSecretRef: { name: "kafka-user", key: "username" },
      passwordSecretRef: { name: "kafka-user", key: "password" },
    };
    await applyObjects(namespace, [
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "kafka-ca" },
        stringData: { "ca.crt": readFileSync(requireEnv("JUDE_KAFKA_CA_FILE"), "utf8") },
      },
      saslPipeline,
    ]);
  }, 120_000);

  afterAll(async () => {
    await setup?.stop();
  });

  it("names the missing Secret at once and creates the BootstrapRun once it exists", async () => {
    await applyObjects(namespace, [promotionModelAt("v1")]);
    await waitFor(
      "the model to name the missing Secret",
      async () => {
        const ready = condition(await model(), "Ready");
        if (ready?.reason === "SecretNotFound") return true;
        // The timeout's message then says what the model said instead.
        throw new Error(`Ready: ${ready?.reason}: ${ready?.message}`);
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    const waiting = await model();
    expect(condition(waiting, "Reconciling")?.status).toBe("True");
    expect(condition(waiting, "Ready")?.message).toContain(
      "NearlinePipeline jobs: spec.source.kafka.sasl.usernameSecretRef names Secret kafka-user, which does not exist",
    );
    expect(condition(waiting, "BootstrapComplete")).toMatchObject({
      status: "False",
      reason: "SecretNotFound",
    });
    expect(await getObject("bootstraprun/jobs-v1-promotion", namespace)).toBeUndefined();

    await kubectl([
      "create",
      "secret",
      "generic",
      "kafka-user",
      "-n",
      namespace,
      `--from-literal=username=${requireEnv("JUDE_KAFKA_SASL_USERNAME")}`,
      `--from-literal=password=${requireEnv("JUDE_KAFKA_SASL_PASSWORD")}`,
    ]);
    await waitFor(
      "the BootstrapRun, sized from the changelog read through SASL",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor(
      "the model to stop naming the Secret",
      async () => condition(await model(), "Ready")?.reason !== "SecretNotFound",
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  }, 180_000);
});

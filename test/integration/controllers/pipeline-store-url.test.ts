// Two NearlinePipelines of one EmbeddingModel that name the same store but reach it through Secrets
// holding different Redis URLs, on the testbed's API server: the newer one writes to a store its model
// never flips or bootstraps, so its entities' vectors never reach readers. Like a differing store name,
// it must stall (StoreConflict) and run no workers; a Secret holding the same URL (another name,
// other credentials) is fine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl } from "../../support/kubectl.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

type Status = {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
};

/** A Secret `name` holding `url` under key `url`, as storeSecret does for the testbed's Redis. */
function urlSecret(name: string, url: string): object {
  return { apiVersion: "v1", kind: "Secret", metadata: { name }, stringData: { url } };
}

describe("pipelines of one model reaching their store through different Secrets", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    harness = await startControllers("store-url");
    topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], 1);
    const url = String((storeSecret().stringData as { url: string }).url);
    await applyObjects(harness.namespace, [
      storeSecret(),
      // Database 1 of the same server: another key space, i.e. another store.
      urlSecret("other-redis", `${url}/1`),
      // The same URL under another Secret (e.g. a Secret per team).
      urlSecret("same-redis", url),
      model(),
    ]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("stalls the newer pipeline whose Secret names another Redis, and runs the one with the same URL", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("jobs", topic)]);
    await waitForObject(ns, "deployment/jobs-minilm-v1-nearline", "jobs' workers", () => true);

    const viaSecret = (name: string, secret: string) =>
      pipeline(name, topic, (spec) => (spec.sinks.store.urlSecretRef = { name: secret, key: "url" }));
    await applyObjects(ns, [
      viaSecret("jobs-elsewhere", "other-redis"),
      viaSecret("jobs-same", "same-redis"),
    ]);

    await waitForObject(ns, "deployment/jobs-same-minilm-v1-nearline", "jobs-same's workers", () => true);
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs-elsewhere",
      "jobs-elsewhere Stalled",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")).toMatchObject({ reason: "StoreConflict" });
    const message = String(conditionOf(stalled, "Stalled")?.message);
    expect(message).toMatch(/^spec\.sinks\.store\.urlSecretRef: /);
    expect(message).toContain("NearlinePipeline jobs ");
    // Never the URL's credentials; the endpoint (and database) only.
    expect(message).toMatch(/\/1\b/);
    const deployments = await kubectl([
      "get",
      "deployments",
      "-n",
      ns,
      "-l",
      "jude.dev/pipeline=jobs-elsewhere",
      "-o",
      "name",
    ]);
    expect(deployments.trim()).toBe("");
  });
});

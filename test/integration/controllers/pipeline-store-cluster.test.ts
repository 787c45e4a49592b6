// Pipelines of one EmbeddingModel whose store is a Redis Cluster (spec.sinks.store.cluster), on the
// testbed's API server: their Secrets hold seed lists. A newer pipeline whose seed list shares no seed
// with the oldest pipeline's names another Cluster, a store its model never flips or bootstraps: it
// must stall (StoreConflict) and run no workers. The same Cluster's seeds in another order, with
// spaces and upper-case hosts, are the same store and run. Before seed lists were compared, the
// operator read them as redis:// URLs, found no endpoint, and ran both.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";
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
import { model, pipeline } from "./objects.ts";

type Status = {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
};

function seedSecret(name: string, seeds: string): object {
  return { apiVersion: "v1", kind: "Secret", metadata: { name }, stringData: { url: seeds } };
}

describe("pipelines of one model on Redis Clusters named by seed lists", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    harness = await startControllers("store-cluster");
    topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], 1);
    const seeds = requireEnv("JUDE_REDIS_CLUSTER_NODES").split(",");
    await applyObjects(harness.namespace, [
      seedSecret("cluster", seeds.join(",")),
      // The same Cluster: its seeds reversed, spaced, a host upper-cased, one seed left out.
      seedSecret(
        "cluster-reordered",
        ` ${seeds.slice(1).reverse().join(" , ").replace("127.0.0.1", "127.0.0.1".toUpperCase())} `,
      ),
      // Another Cluster: no seed in common.
      seedSecret("other-cluster", "redis-b-0.example:6379,redis-b-1.example:6379"),
      model(),
    ]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("stalls the newer pipeline naming another Cluster, and runs the one naming the same Cluster's seeds", async () => {
    const ns = harness.namespace;
    const onCluster = (name: string, secret: string) =>
      pipeline(name, topic, (spec) => {
        spec.sinks.store.urlSecretRef = { name: secret, key: "url" };
        spec.sinks.store.cluster = true;
      });
    await applyObjects(ns, [onCluster("jobs", "cluster")]);
    await waitForObject(ns, "deployment/jobs-minilm-v1-nearline", "jobs' workers", () => true);
    await applyObjects(ns, [
      onCluster("jobs-elsewhere", "other-cluster"),
      onCluster("jobs-same", "cluster-reordered"),
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
    expect(message).toContain("redis-cluster://redis-b-0.example:6379,redis-b-1.example:6379");
    expect(message).toContain("NearlinePipeline jobs ");
    const same = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs-same",
      "jobs-same observed",
      (object) => conditionOf(object, "Stalled") !== undefined,
    );
    expect(conditionOf(same, "Stalled")?.status).not.toBe("True");
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

// Workloads whose pods the API server refuses to create, on the testbed's API server and controller
// manager: a ResourceQuota that requires CPU limits (which the example pipeline and run do not set),
// and a PriorityClass that does not exist. Kubernetes says so only on the Deployment's ReplicaFailure
// condition or in the Job's FailedCreate Events, never on a pod (there is none); each resource's
// status must name the refusal instead of "0 of 2 workers ready" / "waiting for the shards to start",
// and a NearlinePipeline recovers once the quota is gone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  startInProcessOperator,
  type Json,
} from "../operator/operator-harness.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, storeSecret } from "./objects.ts";

type Status = {
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

const limitsQuota = {
  apiVersion: "v1",
  kind: "ResourceQuota",
  metadata: { name: "compute" },
  spec: { hard: { "limits.cpu": "64" } },
};

describe("pods the API server refuses to create", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    harness = await startControllers("refused-pods");
    topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], 2);
    await applyObjects(harness.namespace, [limitsQuota, storeSecret(), model()]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("a NearlinePipeline says FailedCreate with the quota's answer, and turns Ready once the quota is gone", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("jobs", topic)]);
    const refused = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "FailedCreate",
      (object) => conditionOf(object, "Ready")?.reason === "FailedCreate",
    );
    expect(conditionOf(refused, "Reconciling")).toMatchObject({ status: "True", reason: "FailedCreate" });
    expect(conditionOf(refused, "Ready")?.message).toMatch(
      /^version minilm-v1: Deployment jobs-minilm-v1-nearline: 0 of 2 workers (updated|ready); the API server refuses to create its pods .*: pods "jobs-minilm-v1-nearline-[a-z0-9-]+" is forbidden: failed quota: compute: must specify limits\.cpu for: nearline/,
    );
    await kubectl(["delete", "resourcequota", "compute", "-n", ns]);
    const ready = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "Ready",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
    expect(conditionOf(ready, "Ready")?.message).not.toContain("refuses");
    await applyObjects(ns, [limitsQuota]);
  });

  it("a BootstrapRun says FailedCreate with the quota's answer instead of waiting for its shards", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [bootstrapRun("jobs-minilm-v1", "jobs", 2)]);
    const refused = await waitForObject<Status>(
      ns,
      "bootstraprun/jobs-minilm-v1",
      "FailedCreate",
      (object) => conditionOf(object, "Ready")?.reason === "FailedCreate",
    );
    expect(refused.status?.phase).toBe("Pending");
    expect(conditionOf(refused, "Reconciling")).toMatchObject({ status: "True", reason: "FailedCreate" });
    expect(conditionOf(refused, "Ready")?.message).toMatch(
      /^waiting for the shards to start; the API server refuses to create its pods .*: pods "jobs-minilm-v1-bootstrap-[0-9]-[a-z0-9]+" is forbidden: failed quota: compute: must specify limits\.cpu for: bootstrap$/,
    );
    await kubectl(["delete", "bootstraprun", "jobs-minilm-v1", "-n", ns, "--wait=true"]);
  });
});

describe("serving pods the API server refuses to create", () => {
  const namespace = `refused-serving-${process.pid}`;
  let operator: ReturnType<typeof startInProcessOperator>;

  beforeAll(async () => {
    await createRestrictedNamespace(namespace);
    operator = startInProcessOperator([namespace]);
  });

  afterAll(async () => {
    await operator?.stop();
    await deleteNamespace(namespace);
  });

  it("an EmbeddingModel whose PriorityClass does not exist says FailedCreate with the API server's answer", async () => {
    const spec = { replicas: 1, priorityClassName: "jude-no-such-class" };
    await applyObjects(namespace, [cpuModel(namespace, "refused", spec)]);
    let model: Json | undefined;
    await waitFor(
      "ServingReady FailedCreate",
      async () => {
        model = await getObject("embeddingmodel/refused", namespace);
        return condition(model, "ServingReady")?.reason === "FailedCreate";
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(condition(model, "ServingReady")?.message).toMatch(
      /^version v1: 0\/1 replicas ready, 0\/1 updated; the API server refuses to create its pods .*: pods "refused-v1-[a-z0-9-]+" is forbidden: no PriorityClass with name jude-no-such-class was found$/,
    );
    expect(condition(model, "Ready")?.message).toContain("no PriorityClass with name jude-no-such-class");
  });
});

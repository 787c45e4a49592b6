// The NearlinePipeline controller on the testbed's API server (pods only pretend to run on kwok
// nodes): a pipeline and its EmbeddingModel become a worker ConfigMap the worker's own schema accepts
// and a Deployment whose pods the restricted admission plugin admits; inconsistent pipelines stall
// with a message naming the field, and recover when the missing piece appears; workers the scheduler
// cannot place are named with its reason.
import { createHash } from "node:crypto";
import type { V1ConfigMap, V1Deployment, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nearlineConfigSchema } from "../../../pipelines/nearline/config.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { configMapNameOf } from "../../support/config-maps.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  patchStoreSecret,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

type Status = {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
};

/**
 * The pipelines' poll here (--pipeline-poll-seconds; 30 s in production): a missing Secret is looked
 * for again only at the poll (Secrets are not watched).
 */
const pipelinePollMs = 5_000;

describe("NearlinePipeline controller", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    harness = await startControllers("nearline-ctl", { settings: { pipelinePollMs } });
    topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], 3);
    await applyObjects(harness.namespace, [storeSecret(), model()]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("renders a version's worker ConfigMap, Deployment and PDB and turns Ready", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("jobs", topic)]);
    const deployment = await waitForObject<V1Deployment>(
      ns,
      "deployment/jobs-minilm-v1-nearline",
      "worker Deployment",
      () => true,
    );
    const configMap = await kubectlJson<V1ConfigMap>([
      "get",
      "-n",
      ns,
      `configmap/${configMapNameOf(deployment)}`,
    ]);
    // Named by its content: a config change makes a new one, never rewrites what older pods mount.
    expect(configMap.metadata!.name).toMatch(/^jobs-minilm-v1-nearline-[0-9a-f]{10}$/);
    const owner = await kubectlJson<{ metadata: { uid: string } }>([
      "get",
      "-n",
      ns,
      "nearlinepipeline/jobs",
    ]);

    const text = configMap.data!["config.yaml"]!;
    const config = nearlineConfigSchema.parse(parse(text));
    expect(config.source.kafka).toMatchObject({
      topic,
      consumerGroup: `jude.${ns}.jobs.minilm-v1`,
      startOffset: "latest",
    });
    expect(config.model.digest).toBe(
      "sha256:76edd143b0c9457a40a018144d94a10a7973d218d5de1d7e317a88516e0467ab",
    );
    expect(config.embedding.endpoint).toBe(`jude-minilm-minilm-v1.${ns}.svc:50051`);
    expect(config.sinks.store).toMatchObject({ name: "job-recs", url: { env: "JUDE_STORE_URL" } });
    expect(text).not.toContain(process.env.JUDE_REDIS_URL);

    const template = deployment.spec!.template;
    expect(template.metadata!.annotations!["jude.dev/config-hash"]).toBe(
      createHash("sha256").update(text).digest("hex"),
    );
    expect(template.spec!.containers[0]!.env).toEqual([
      // The pod name is the worker's static consumer-group member id.
      { name: "JUDE_POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
      { name: "JUDE_STORE_URL", valueFrom: { secretKeyRef: { name: "jude-redis", key: "url" } } },
    ]);
    // A drain takes one of this version's workers at a time.
    const budget = await kubectlJson<V1PodDisruptionBudget>([
      "get",
      "-n",
      ns,
      "poddisruptionbudget/jobs-minilm-v1-nearline",
    ]);
    expect(budget.spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: deployment.spec!.selector.matchLabels },
    });
    for (const child of [deployment, configMap, budget])
      expect(child.metadata!.ownerReferences).toEqual([
        expect.objectContaining({ kind: "NearlinePipeline", uid: owner.metadata.uid, controller: true }),
      ]);

    // Ready needs the pods to exist, which the restricted admission plugin allows only for compliant pods.
    const ready = await waitForObject<
      Status & { status?: { versions?: { version: string; readyReplicas?: number }[] } }
    >(
      ns,
      "nearlinepipeline/jobs",
      "pipeline Ready",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
    expect(ready.status?.versions).toEqual([
      expect.objectContaining({ version: "minilm-v1", readyReplicas: 2 }),
    ]);
    expect(conditionOf(ready, "Stalled")?.status).toBe("False");
    // The operator's count of the version's workers (JudeNearlineWorkersDown reads it).
    const workers = async (name: string) =>
      (await harness.registry.getSingleMetric(name)!.get()).values.find(
        ({ labels }) =>
          labels.namespace === ns && labels.pipeline === "jobs" && labels.version === "minilm-v1",
      )?.value;
    expect(await workers("jude_nearline_workers_desired")).toBe(2);
    expect(await workers("jude_nearline_workers_ready")).toBe(2);
    // The CRD promises CaughtUp. kwok's pretend pods answer no probe, so no lag is known: the
    // condition says so (Unknown) rather than being absent or claiming the workers caught up; ready
    // workers that owe their lag are read again every 2 s, not at the 5 s poll.
    expect(conditionOf(ready, "CaughtUp")).toMatchObject({
      status: "Unknown",
      reason: "WaitingForWorkers",
      message: expect.stringContaining(
        "version minilm-v1: waiting for a lag figure from its 2 ready workers (read every 2 s for a minute after they turn ready, then every 5 s)",
      ),
    });
    // What `kubectl get` prints from that status: MODEL, ENTITY, LAG (blank: no figure reported), READY, AGE.
    expect(await kubectl(["get", "nlp", "jobs", "-n", ns, "--no-headers"])).toMatch(
      /^jobs\s+jude-minilm\s+job\s+True\s+\d+s\s*$/,
    );
  });

  it("rolls the workers when the worker config changes", async () => {
    const ns = harness.namespace;
    const hashOf = (deployment: V1Deployment) =>
      deployment.spec!.template.metadata!.annotations!["jude.dev/config-hash"];
    const before = hashOf(
      await kubectlJson<V1Deployment>(["get", "-n", ns, "deployment/jobs-minilm-v1-nearline"]),
    );
    await applyObjects(ns, [
      pipeline("jobs", topic, (spec) => {
        spec.workers = { replicas: 2, maxBatchSize: 16 };
        // Admitted by the CRD and carried into the worker config, so offset commits wait for a replica.
        spec.sinks.store.durability = { replicas: 1, timeoutMs: 500 };
      }),
    ]);
    const after = await waitForObject<V1Deployment>(
      ns,
      "deployment/jobs-minilm-v1-nearline",
      "new config hash",
      (d) => hashOf(d) !== before,
    );
    const configMap = await kubectlJson<V1ConfigMap>([
      "get",
      "-n",
      ns,
      `configmap/${configMapNameOf(after)}`,
    ]);
    const rendered = nearlineConfigSchema.parse(parse(configMap.data!["config.yaml"]!));
    expect(rendered.embedding.maxBatchSize).toBe(16);
    expect(rendered.sinks.store.durability).toEqual({ replicas: 1, fsync: false, timeoutMs: 500 });
    expect(hashOf(after)).toBe(createHash("sha256").update(configMap.data!["config.yaml"]!).digest("hex"));
  });

  // Workers read their Secrets (the store URL, Kafka credentials) only when they start: a rotated
  // password or a store URL pointing at another Redis must roll them, as a config change does.
  it("rolls the workers when a Secret they read is written, and names only its version", async () => {
    const ns = harness.namespace;
    const template = async () =>
      (await kubectlJson<V1Deployment>(["get", "-n", ns, "deployment/jobs-minilm-v1-nearline"])).spec!
        .template.metadata!.annotations!;
    const secretVersion = async () =>
      (await kubectlJson<{ metadata: { resourceVersion: string } }>(["get", "-n", ns, "secret/jude-redis"]))
        .metadata.resourceVersion;
    const before = await template();
    expect(before["jude.dev/secret-versions"]).toBe(`jude-redis@${await secretVersion()}`);

    // The same server with a password in the URL (the testbed's Redis ignores it): a rotation.
    const rotated = requireEnv("JUDE_REDIS_URL").replace("redis://", "redis://:rotated-Pa55word@");
    await patchStoreSecret(ns, { stringData: { url: rotated } });
    const version = await secretVersion();
    const after = await waitForObject<V1Deployment>(
      ns,
      "deployment/jobs-minilm-v1-nearline",
      "the Secret's new version in the pod template",
      (deployment) =>
        deployment.spec!.template.metadata!.annotations!["jude.dev/secret-versions"] ===
        `jude-redis@${version}`,
    );
    // The config is the same; only the Secret's version moved, and no value is copied anywhere.
    expect(after.spec!.template.metadata!.annotations!["jude.dev/config-hash"]).toBe(
      before["jude.dev/config-hash"],
    );
    expect(JSON.stringify(after)).not.toContain("rotated-Pa55word");
  });

  // A GitOps sync applies a model and its pipelines together. Until the EmbeddingModel controller has
  // looked at the model (it records the versions whose workers run), the pipeline starts none: before,
  // it ran the spec version's workers at once, ahead of their serving and BootstrapRun, and removed
  // them again a moment later.
  it("starts no workers for a model no controller has looked at yet", async () => {
    const ns = harness.namespace;
    const fresh = model();
    (fresh.metadata as { name: string }).name = "fresh";
    await applyObjects(ns, [
      fresh,
      pipeline("fresh-jobs", topic, (spec) => (spec.modelRef = { name: "fresh" })),
    ]);
    // The pipeline's first verdict with its model in view (not ModelNotFound from a reconcile that ran
    // before the model reached the controller's cache).
    const waiting = await waitForObject<Status>(
      ns,
      "nearlinepipeline/fresh-jobs",
      "a verdict on the pipeline",
      (object) => ![undefined, "ModelNotFound"].includes(conditionOf(object, "Ready")?.reason),
    );
    expect(conditionOf(waiting, "Reconciling")).toMatchObject({ status: "True", reason: "WaitingForModel" });
    expect(conditionOf(waiting, "Reconciling")?.message).toMatch(
      /^EmbeddingModel fresh has not been reconciled yet/,
    );
    const workers = () =>
      kubectl(["get", "deployments", "-n", ns, "-l", "jude.dev/pipeline=fresh-jobs", "-o", "name"]);
    expect((await workers()).trim()).toBe("");
    // Once the model was observed (and, as here, records no versions), its spec version runs.
    await markModelObserved(ns, "fresh");
    await waitForObject<V1Deployment>(
      ns,
      "deployment/fresh-jobs-minilm-v1-nearline",
      "worker Deployment",
      () => true,
    );
  });

  it("starts no workers for a model still Stalled on its store Secret, which it reports before recording any version", async () => {
    // The README's advice for a missing store Secret is to create it; the model looks again every
    // 15 s, while the pipeline finds it at its own poll. A pipeline that looks first sees the model's
    // old status (Stalled SecretNotFound, no version records): that is no decision to run the spec
    // version, whose serving and BootstrapRun do not exist yet.
    const ns = harness.namespace;
    const blocked = model();
    (blocked.metadata as { name: string }).name = "blocked";
    await applyObjects(ns, [blocked]);
    const generation = (
      await kubectlJson<{ metadata: { generation: number } }>(["get", "-n", ns, "embeddingmodel/blocked"])
    ).metadata.generation;
    const stalled = {
      status: "True",
      reason: "SecretNotFound",
      message:
        "Secret jude-redis (spec.sinks.store.urlSecretRef of NearlinePipeline blocked-jobs) does not exist: no version is deployed or switched to until it exists",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    await kubectl([
      "patch",
      "-n",
      ns,
      "embeddingmodel/blocked",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          observedGeneration: generation,
          conditions: [
            { type: "Ready", ...stalled, status: "False" },
            { type: "Stalled", ...stalled },
          ],
        },
      }),
    ]);
    await applyObjects(ns, [
      pipeline("blocked-jobs", topic, (spec) => (spec.modelRef = { name: "blocked" })),
    ]);
    const waiting = await waitForObject<Status>(
      ns,
      "nearlinepipeline/blocked-jobs",
      "a verdict on the pipeline",
      (object) => ![undefined, "ModelNotFound"].includes(conditionOf(object, "Ready")?.reason),
    );
    expect(conditionOf(waiting, "Reconciling")).toMatchObject({ status: "True", reason: "WaitingForModel" });
    const workers = () =>
      kubectl(["get", "deployments", "-n", ns, "-l", "jude.dev/pipeline=blocked-jobs", "-o", "name"]);
    expect((await workers()).trim()).toBe("");
  });

  it("stalls a pipeline whose entity has no prompt, naming the field, and creates no workers", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("companies", topic, (spec) => (spec.entity = "company"))]);
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/companies",
      "Stalled",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")).toMatchObject({ reason: "PromptMissing" });
    expect(conditionOf(stalled, "Stalled")?.message).toMatch(
      /^spec\.entity: EmbeddingModel jude-minilm has no prompt for entity company/,
    );
    expect(conditionOf(stalled, "Ready")?.status).toBe("False");
    expect(conditionOf(stalled, "CaughtUp")).toMatchObject({ status: "Unknown", reason: "NotMeasured" });
    const deployments = await kubectl([
      "get",
      "deployments",
      "-n",
      ns,
      "-l",
      "jude.dev/pipeline=companies",
      "-o",
      "name",
    ]);
    expect(deployments.trim()).toBe("");
  });

  it("stalls, naming the field to set, when the model gives no sha256 (nothing ever reports one)", async () => {
    const ns = harness.namespace;
    const unpinned = model();
    (unpinned.metadata as { name: string }).name = "unpinned";
    delete (unpinned.spec as { model: { sha256?: string } }).model.sha256;
    await applyObjects(ns, [
      unpinned,
      pipeline("unpinned-jobs", topic, (spec) => (spec.modelRef = { name: "unpinned" })),
    ]);
    await markModelObserved(ns, "unpinned");
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/unpinned-jobs",
      "Stalled",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")).toMatchObject({ reason: "ModelDigestUnknown" });
    expect(conditionOf(stalled, "Stalled")?.message).toMatch(
      /^EmbeddingModel unpinned sets no spec\.model\.sha256 for version minilm-v1: /,
    );
    expect(conditionOf(stalled, "Reconciling")?.status).toBe("False");
  });

  it("stalls on a missing Secret naming the field, and recovers once it is created", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [
      pipeline(
        "resumes",
        topic,
        (spec) => (spec.sinks.store.urlSecretRef = { name: "resumes-redis", key: "url" }),
      ),
    ]);
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/resumes",
      "Stalled",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")).toMatchObject({ reason: "SecretNotFound" });
    expect(conditionOf(stalled, "Stalled")?.message).toContain(
      "spec.sinks.store.urlSecretRef names Secret resumes-redis, which does not exist",
    );
    await applyObjects(ns, [storeSecret("resumes-redis")]);
    await waitForObject<Status>(
      ns,
      "nearlinepipeline/resumes",
      "recovered",
      (object) => conditionOf(object, "Stalled")?.status === "False",
    );
    await waitForObject<V1Deployment>(
      ns,
      "deployment/resumes-minilm-v1-nearline",
      "worker Deployment",
      () => true,
    );
  });

  it("says Unschedulable with the scheduler's reason while no node has room for a worker, then turns Ready", async () => {
    const ns = harness.namespace;
    const withCpu = (cpu: string) =>
      pipeline(
        "titles",
        topic,
        (spec) => (spec.workers = { ...spec.workers, resources: { requests: { cpu } } }),
      );
    // No node of the testbed has 500 CPUs.
    await applyObjects(ns, [withCpu("500")]);
    const waiting = await waitForObject<Status>(
      ns,
      "nearlinepipeline/titles",
      "Unschedulable",
      (object) => conditionOf(object, "Ready")?.reason === "Unschedulable",
    );
    expect(conditionOf(waiting, "Reconciling")).toMatchObject({ status: "True", reason: "Unschedulable" });
    expect(conditionOf(waiting, "Ready")?.message).toMatch(
      // What the Deployment's status says first depends on which controller the pipeline heard from
      // last (not observed yet, N of 2 updated, 0 of 2 ready); the scheduler's verdict follows it.
      /^version minilm-v1: Deployment titles-minilm-v1-nearline: [^;]+; [12] pods? cannot be scheduled \(titles-minilm-v1-nearline-[a-z0-9-]+\): 0\/\d+ nodes are available: .*Insufficient cpu/,
    );
    await applyObjects(ns, [withCpu("10m")]);
    const ready = await waitForObject<Status>(
      ns,
      "nearlinepipeline/titles",
      "Ready",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
    expect(conditionOf(ready, "Ready")?.message).not.toContain("cannot be scheduled");
  });
});

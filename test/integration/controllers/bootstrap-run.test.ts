// The BootstrapRun controller on the testbed's API server (shard pods only pretend to run on kwok
// nodes): a run captures the changelog's end offsets per partition into its status before its shards
// start, and becomes an Indexed Job with one index per shard whose config the shard's own schema
// accepts and whose podFailurePolicy the API server accepts; suspend passes through to the Job; the shards' ConfigMap deleted mid-run comes back as the
// Job started with it; shards the scheduler cannot place are named with its reason, also once the run
// fails at its activeDeadlineSeconds (the Job controller has deleted them by then); a version the
// spec names with other prompts than it was built with (VersionRedefined) is filled as its record says;
// a version the store records with another prompt template fails the run at once, saying so; a
// second run of the same pipeline and version waits (AnotherRunInFlight) until the first is gone.
import type { V1ConfigMap, V1Job } from "@kubernetes/client-node";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { desiredVersionRecord, recordedSpec } from "../../../controllers/embedding-model/version-record.ts";
import { parseEmbeddingModel } from "../../../crds/index.ts";
import { bootstrapConfigSchema } from "../../../pipelines/bootstrap/config.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { promptDigest, registerVersion } from "../../../store/index.ts";
import {
  applyObjects,
  conditionOf,
  openTestStore,
  resumeRun,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, snapshotEvents, storeSecret } from "./objects.ts";
import { requireEnv } from "../../support/env.ts";
import { waitFor } from "../../testbed/wait.ts";

interface RunObject {
  [field: string]: unknown;
  metadata: { uid: string };
  status?: {
    phase?: string;
    jobName?: string;
    watermarks?: { topic: string; partitions: { partition: number; offset: number }[] };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

/**
 * Waits until BootstrapRun `name`'s condition `type` has `field` equal to `value` (a reason, or a
 * status); returns the run.
 */
function runWithCondition(
  ns: string,
  name: string,
  type: string,
  field: "status" | "reason",
  value: string,
): Promise<RunObject> {
  return waitForObject<RunObject>(
    ns,
    `bootstraprun/${name}`,
    field === "reason" ? value : type,
    (object) => conditionOf(object, type)?.[field] === value,
  );
}

/** The names of the Jobs labelled as BootstrapRun `name`'s, one a line (none: empty). */
const jobsOfRun = (ns: string, name: string) =>
  kubectl(["get", "jobs", "-n", ns, "-l", `jude.dev/bootstrap-run=${name}`, "-o", "name"]);

describe("BootstrapRun controller", () => {
  let harness: ControllersHarness;
  let topic: string;
  // Records produced per partition: the watermarks the run must capture.
  const produced = [5, 3, 0];

  beforeAll(async () => {
    harness = await startControllers("bootstrap-ctl");
    topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], produced.length);
    await produceEvents(topic, snapshotEvents(produced));
    await applyObjects(harness.namespace, [storeSecret(), model(), pipeline("jobs", topic)]);
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("captures the watermarks and runs an Indexed Job with one index per shard", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [bootstrapRun("jobs-minilm-v1", "jobs", 3)]);
    const job = await waitForObject<V1Job>(ns, "job/jobs-minilm-v1-bootstrap", "Indexed Job", () => true);
    const run = await kubectlJson<RunObject>(["get", "-n", ns, "bootstraprun/jobs-minilm-v1"]);

    expect(run.status?.watermarks?.topic).toBe(topic);
    expect(run.status?.watermarks?.partitions).toEqual(
      produced.map((offset, partition) => ({ partition, offset })),
    );
    expect(job.spec).toMatchObject({
      completionMode: "Indexed",
      completions: 3,
      parallelism: 3,
      backoffLimit: 6,
      activeDeadlineSeconds: 21600,
      ttlSecondsAfterFinished: 604800,
      suspend: false,
    });
    // The API server accepted (validated and kept) the podFailurePolicy: a shard deleted by hand
    // exits 75 after its checkpoint, and the Job ignores it rather than counting it against backoffLimit.
    expect(job.spec?.podFailurePolicy?.rules).toEqual([
      { action: "FailJob", onExitCodes: { containerName: "bootstrap", operator: "In", values: [2] } },
      { action: "Ignore", onExitCodes: { containerName: "bootstrap", operator: "In", values: [75] } },
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    ]);
    expect(job.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: "BootstrapRun", uid: run.metadata.uid, controller: true }),
    ]);
    const configMap = await kubectlJson<V1ConfigMap>(["get", "-n", ns, "configmap/jobs-minilm-v1-bootstrap"]);
    const config = bootstrapConfigSchema.parse(parse(configMap.data!["config.yaml"]!));
    expect(config.source.kafka?.watermarks).toEqual(run.status?.watermarks?.partitions);
    expect(config.shards).toEqual({ count: 3 });
    expect(config.run).toEqual({ namespace: ns, name: "jobs-minilm-v1", uid: run.metadata.uid });

    // kwok "runs" the shard pods (they pass restricted admission) and completes them at once, but no
    // shard wrote a checkpoint: the run must not claim success for a version it did not fill.
    const finished = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-minilm-v1",
      "run finished",
      (object) => ["Succeeded", "Failed"].includes(object.status?.phase ?? ""),
    );
    expect(finished.status?.phase).toBe("Failed");
    expect(conditionOf(finished, "Failed")).toMatchObject({ status: "True", reason: "ShardsIncomplete" });
    expect(conditionOf(finished, "Stalled")?.message).toMatch(
      /shard\(s\) 0, 1, 2 have no finished checkpoint/,
    );
    expect(finished.status?.watermarks).toEqual(run.status?.watermarks);
    // `kubectl get` shows it: VERSION, PHASE, PROGRESS (no shard checkpointed anything), AGE.
    expect(await kubectl(["get", "br", "jobs-minilm-v1", "-n", ns, "--no-headers"])).toMatch(
      /^jobs-minilm-v1\s+minilm-v1\s+Failed\s+0\s+\d+s\s*$/,
    );
  });

  it("tells the shards a Cluster store is one and reads their checkpoints there", async () => {
    const ns = harness.namespace;
    const seeds = storeSecret("cluster-redis");
    seeds.stringData = { url: requireEnv("JUDE_REDIS_CLUSTER_NODES") };
    // A model of its own: the pipelines of one model share one store (the file's other pipeline
    // writes the standalone Redis; the same model would make this one a StoreConflict).
    const clusterModel = model();
    (clusterModel.metadata as { name: string }).name = "jude-minilm-cluster";
    await applyObjects(ns, [
      seeds,
      clusterModel,
      pipeline("jobs-cluster", topic, (spec) => {
        spec.modelRef = { name: "jude-minilm-cluster" };
        spec.sinks.store.urlSecretRef = { name: "cluster-redis", key: "url" };
        spec.sinks.store.cluster = true;
      }),
      bootstrapRun("jobs-cluster-minilm-v1", "jobs-cluster", 2),
    ]);
    await waitForObject<V1Job>(ns, "job/jobs-cluster-minilm-v1-bootstrap", "Indexed Job", () => true);
    const configMap = await kubectlJson<V1ConfigMap>([
      "get",
      "-n",
      ns,
      "configmap/jobs-cluster-minilm-v1-bootstrap",
    ]);
    const config = bootstrapConfigSchema.parse(parse(configMap.data!["config.yaml"]!));
    expect(config.store).toMatchObject({ cluster: true, url: { env: "JUDE_STORE_URL" } });
    // No shard ran (kwok): the operator read the checkpoints on the Cluster and found none. Read as a
    // redis:// URL, the seed list would leave the run unable to read them at all.
    const finished = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-cluster-minilm-v1",
      "run finished",
      (object) => ["Succeeded", "Failed"].includes(object.status?.phase ?? ""),
    );
    expect(conditionOf(finished, "Failed")).toMatchObject({ status: "True", reason: "ShardsIncomplete" });
    expect(conditionOf(finished, "Stalled")?.message).toMatch(/shard\(s\) 0, 1 have no finished checkpoint/);
  });

  it("creates a suspended run's Job suspended, and resumes it", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-suspended", "jobs", 2);
    (run.spec as { suspend: boolean }).suspend = true;
    await applyObjects(ns, [run]);
    const job = await waitForObject<V1Job>(ns, "job/jobs-suspended-bootstrap", "Indexed Job", () => true);
    expect(job.spec?.suspend).toBe(true);
    const suspended = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-suspended",
      "run Suspended",
      (object) => object.status?.phase === "Suspended",
    );
    expect(suspended.status?.watermarks?.partitions).toEqual(
      produced.map((offset, partition) => ({ partition, offset })),
    );
    expect(conditionOf(suspended, "Ready")).toMatchObject({ status: "False", reason: "Suspended" });
    expect(conditionOf(suspended, "Reconciling")?.status).toBe("False");
    await resumeRun(ns, "jobs-suspended");
    await waitForObject<V1Job>(
      ns,
      "job/jobs-suspended-bootstrap",
      "Job resumed",
      (resumed) => resumed.spec?.suspend === false,
    );
  });

  it("recreates an unfinished run's ConfigMap deleted by hand, with the config its Job started with", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-drift", "jobs", 2);
    (run.spec as { suspend: boolean }).suspend = true;
    await applyObjects(ns, [run]);
    await waitForObject<RunObject>(ns, "bootstraprun/jobs-drift", "run Suspended", (object) => {
      return object.status?.phase === "Suspended";
    });
    const before = await kubectlJson<V1ConfigMap>(["get", "-n", ns, "configmap/jobs-drift-bootstrap"]);
    await kubectl(["delete", "-n", ns, "configmap/jobs-drift-bootstrap"]);
    // Without it, every shard pod the Job starts (on resume, or to replace a failed one) cannot
    // mount its config and waits forever.
    const after = await waitForObject<V1ConfigMap>(
      ns,
      "configmap/jobs-drift-bootstrap",
      "the ConfigMap recreated",
      (object) => object.metadata?.uid !== before.metadata?.uid,
    );
    expect(after.data).toEqual(before.data);
    // A suspended run holds back every later run of its pipeline and version.
    await kubectl(["delete", "bootstraprun", "jobs-drift", "-n", ns, "--wait=true"]);
  });

  it("runs a run whose name is long: the Job leaves room for its pods' host names <job>-<index>", async () => {
    const ns = harness.namespace;
    // 55 characters: "<name>-bootstrap" is shortened to a valid Job name, but an Indexed Job's pods are
    // named <job>-<index>, and the API server refuses a Job whose pods could not get a DNS label.
    const name = `jobs-with-a-long-name-${"x".repeat(33)}`;
    await applyObjects(ns, [bootstrapRun(name, "jobs", 12)]);
    const run = await waitForObject<RunObject>(
      ns,
      `bootstraprun/${name}`,
      "the run names its Job",
      (object) => {
        return object.status?.jobName !== undefined;
      },
    );
    const jobName = run.status!.jobName!;
    expect(`${jobName}-11`.length).toBeLessThanOrEqual(63);
    const job = await waitForObject<V1Job>(ns, `job/${jobName}`, "shard pods created", (object) => {
      return (
        (object.status?.active ?? 0) + (object.status?.succeeded ?? 0) + (object.status?.failed ?? 0) > 0
      );
    });
    expect(job.spec?.completions).toBe(12);
    await kubectl(["delete", "bootstraprun", name, "-n", ns, "--wait=true"]);
  });

  it("says Unschedulable with the scheduler's reason while no node has room for a shard, and in the failure at its deadline", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-huge", "jobs", 2);
    // No node of the testbed has 500 CPUs.
    (run.spec as { resources?: unknown }).resources = { requests: { cpu: "500" } };
    await applyObjects(ns, [run]);
    const waiting = await runWithCondition(ns, "jobs-huge", "Ready", "reason", "Unschedulable");
    expect(waiting.status?.phase).toMatch(/^(Pending|Running)$/);
    expect(conditionOf(waiting, "Reconciling")).toMatchObject({ status: "True", reason: "Unschedulable" });
    expect(conditionOf(waiting, "Ready")?.message).toMatch(
      /; [12] pods? cannot be scheduled \(jobs-huge-bootstrap-[0-9]-[a-z0-9]+\): 0\/\d+ nodes are available: .*Insufficient cpu/,
    );
    // Its deadline passed (set now, so the Job, started earlier, reaches it at once): the Job controller
    // deletes the pods as it fails the Job, and the failure still says what held them back.
    await kubectl([
      "patch",
      "bootstraprun",
      "jobs-huge",
      "-n",
      ns,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { activeDeadlineSeconds: 1 } }),
    ]);
    const failed = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-huge",
      "Failed",
      (object) => object.status?.phase === "Failed",
    );
    expect(conditionOf(failed, "Failed")).toMatchObject({ status: "True", reason: "DeadlineExceeded" });
    expect(conditionOf(failed, "Failed")?.message).toMatch(
      /^bootstrap failed: Job was active longer than specified deadline; the shards were held back: [12] pods? cannot be scheduled \(jobs-huge-bootstrap-[0-9]-[a-z0-9]+\): 0\/\d+ nodes are available: .*Insufficient cpu.*; progress /,
    );
    await kubectl(["delete", "bootstraprun", "jobs-huge", "-n", ns, "--wait=true"]);
  });

  it("a run deleted while its shard pods exist takes its Job and pods with it", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-deleted", "jobs", 2);
    // No node has room: the shard pods stay, Pending, until the run is deleted.
    (run.spec as { resources?: unknown }).resources = { requests: { cpu: "500" } };
    await applyObjects(ns, [run]);
    await waitForObject<V1Job>(ns, "job/jobs-deleted-bootstrap", "shard pods created", (job) => {
      return (job.status?.active ?? 0) > 0;
    });
    const listed = async (kind: string) =>
      (
        await kubectl(["get", kind, "-n", ns, "-l", "jude.dev/bootstrap-run=jobs-deleted", "-o", "name"])
      ).trim();
    expect(await listed("pods")).not.toBe("");
    await kubectl(["delete", "bootstraprun", "jobs-deleted", "-n", ns, "--wait=true"]);
    await waitFor("the run's Job, ConfigMap and pods removed", async () => {
      return (
        (await listed("jobs")) === "" &&
        (await listed("pods")) === "" &&
        (await kubectl(["get", "configmaps", "-n", ns, "-o", "name"])).includes("jobs-deleted-bootstrap") ===
          false
      );
    });
  });

  // Was: a second run of the same pipeline and version started its own Job at once, both filling the
  // version side by side.
  it("holds a second run of the same pipeline and version back while the first is unfinished, naming it", async () => {
    const ns = harness.namespace;
    const first = bootstrapRun("jobs-first", "jobs", 1);
    (first.spec as { suspend: boolean }).suspend = true;
    // Both runs are deleted whatever the test finds: an unfinished run of jobs/minilm-v1 would hold
    // back the later tests' runs of that version.
    const cleanUp = () =>
      kubectl([
        "delete",
        "bootstraprun",
        "jobs-first",
        "jobs-second",
        "-n",
        ns,
        "--ignore-not-found",
        "--wait=true",
      ]);
    try {
      await applyObjects(ns, [first]);
      await waitForObject<V1Job>(ns, "job/jobs-first-bootstrap", "the first run's Job", () => true);
      await applyObjects(ns, [bootstrapRun("jobs-second", "jobs", 1)]);
      const waiting = await runWithCondition(
        ns,
        "jobs-second",
        "Reconciling",
        "reason",
        "AnotherRunInFlight",
      );
      expect(waiting.status?.phase).toBe("Pending");
      expect(waiting.status?.watermarks).toBeUndefined();
      // The run ahead is suspended: the message says so, and how to let this one start.
      expect(conditionOf(waiting, "Reconciling")?.message).toMatch(
        /^BootstrapRun jobs-first is suspended and goes first for version minilm-v1 of NearlinePipeline jobs; this run starts once it has finished or is deleted: resume it \(spec\.suspend: false\) or delete it$/,
      );
      const jobs = await jobsOfRun(ns, "jobs-second");
      expect(jobs.trim()).toBe("");

      await kubectl(["delete", "bootstraprun", "jobs-first", "-n", ns, "--wait=true"]);
      await waitForObject<V1Job>(ns, "job/jobs-second-bootstrap", "the second run's Job", () => true);
    } finally {
      await cleanUp();
    }
  });

  it("stalls a run of a version the model does not serve, naming the field, and creates no Job", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-minilm-v9", "jobs", 2);
    (run.spec as { modelVersion: string }).modelVersion = "minilm-v9";
    await applyObjects(ns, [run]);
    const stalled = await runWithCondition(ns, "jobs-minilm-v9", "Stalled", "status", "True");
    expect(conditionOf(stalled, "Stalled")?.message).toMatch(
      /^spec\.modelVersion: EmbeddingModel jude-minilm does not serve version minilm-v9/,
    );
    expect(stalled.status?.watermarks).toBeUndefined();
    const jobs = await jobsOfRun(ns, "jobs-minilm-v9");
    expect(jobs.trim()).toBe("");
  });

  // The Job of a run made by hand goes on when its pipeline is deleted (its shards have their config),
  // but the checkpoints that say whether they finished are found through the pipeline's store Secret.
  // The run stayed Running, its message a progress figure, for as long as the pipeline was missing.
  it("says why a run whose pipeline was deleted cannot finish, and finishes once it is back", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("jobs-gone", topic)]);
    const run = bootstrapRun("jobs-orphan", "jobs-gone", 1);
    (run.spec as { suspend: boolean }).suspend = true;
    await applyObjects(ns, [run]);
    await waitForObject<RunObject>(ns, "bootstraprun/jobs-orphan", "Suspended", (object) =>
      ["Suspended"].includes(object.status?.phase ?? ""),
    );
    await kubectl(["delete", "-n", ns, "nearlinepipeline/jobs-gone", "--wait=true"]);
    await resumeRun(ns, "jobs-orphan");
    await waitForObject<V1Job>(ns, "job/jobs-orphan-bootstrap", "Job complete", (job) =>
      (job.status?.conditions ?? []).some(
        (condition) => condition.type === "Complete" && condition.status === "True",
      ),
    );
    const stuck = await runWithCondition(ns, "jobs-orphan", "Stalled", "status", "True");
    expect(stuck.status?.phase).toBe("Running");
    expect(conditionOf(stuck, "Stalled")).toMatchObject({ reason: "CheckpointsUnreadable" });
    expect(conditionOf(stuck, "Stalled")?.message).toMatch(
      /^the Job completed, but its shards' checkpoints cannot be read to confirm they finished: spec\.pipelineRef\.name: NearlinePipeline jobs-gone does not exist/,
    );

    await applyObjects(ns, [pipeline("jobs-gone", topic)]);
    // kwok completed the shards without running them: no checkpoint, so the run fails as it should.
    const finished = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-orphan",
      "run finished",
      (object) => ["Succeeded", "Failed"].includes(object.status?.phase ?? ""),
    );
    expect(conditionOf(finished, "Failed")).toMatchObject({ status: "True", reason: "ShardsIncomplete" });
  });

  // A run made by hand for a version whose vectors in the store were made with another prompt
  // template (the store's registry records the template per entity; the EmbeddingModel, with no record
  // of building it, is Stalled VersionRedefined): its shards' registration would be refused, so it
  // fails at once saying what differs, rather than with their store error after the Job's retries.
  it("fails a run of a version the store records with another prompt template, naming it", async () => {
    const ns = harness.namespace;
    const storeName = `${ns}-prompts`;
    const redefinedModel = model();
    (redefinedModel.metadata as { name: string }).name = "jude-minilm-prompts";
    const template = (redefinedModel.spec as { prompts: Record<string, string> }).prompts.job!;
    const { store, close } = await openTestStore(storeName);
    try {
      await registerVersion(store, "minilm-v1", {
        modelDigest: `sha256:${(redefinedModel.spec as { model: { sha256: string } }).model.sha256}`,
        dimension: 384,
        prompts: { job: "Job: {{title}}" },
      });
    } finally {
      close();
    }
    await applyObjects(ns, [
      redefinedModel,
      pipeline("jobs-prompts", topic, (spec) => {
        spec.modelRef = { name: "jude-minilm-prompts" };
        spec.sinks.store.name = storeName;
      }),
      bootstrapRun("jobs-prompts-minilm-v1", "jobs-prompts", 1),
    ]);
    const failed = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-prompts-minilm-v1",
      "run failed",
      (object) => object.status?.phase === "Failed",
    );
    expect(conditionOf(failed, "Failed")).toMatchObject({ status: "True", reason: "VersionRedefined" });
    expect(conditionOf(failed, "Failed")?.message).toContain(
      `version minilm-v1 in store ${storeName} was built with prompt template ${promptDigest("Job: {{title}}")} for entity job, not this run's ${promptDigest(template)}`,
    );
    expect(conditionOf(failed, "Stalled")?.reason).toBe("VersionRedefined");
    expect(
      (await kubectl(["get", "-n", ns, "job/jobs-prompts-minilm-v1-bootstrap", "--ignore-not-found"])).trim(),
    ).toBe("");
  });

  // The same for vector settings: the store records those its vectors were made with (here a
  // maxSequenceLength of 512 where the model's spec truncates at 256), and the run fails at once.
  it("fails a run of a version the store records with other vector settings, naming them", async () => {
    const ns = harness.namespace;
    const storeName = `${ns}-vecspec`;
    const redefinedModel = model();
    (redefinedModel.metadata as { name: string }).name = "jude-minilm-vecspec";
    const template = (redefinedModel.spec as { prompts: Record<string, string> }).prompts.job!;
    const { store, close } = await openTestStore(storeName);
    try {
      await registerVersion(store, "minilm-v1", {
        modelDigest: `sha256:${(redefinedModel.spec as { model: { sha256: string } }).model.sha256}`,
        dimension: 384,
        prompts: { job: template },
        vectorSettings: { pooling: "mean", normalize: true, maxSequenceLength: 512, precision: "fp32" },
      });
    } finally {
      close();
    }
    await applyObjects(ns, [
      redefinedModel,
      pipeline("jobs-vecspec", topic, (spec) => {
        spec.modelRef = { name: "jude-minilm-vecspec" };
        spec.sinks.store.name = storeName;
      }),
      bootstrapRun("jobs-vecspec-minilm-v1", "jobs-vecspec", 1),
    ]);
    const failed = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-vecspec-minilm-v1",
      "run failed",
      (object) => object.status?.phase === "Failed",
    );
    expect(conditionOf(failed, "Failed")).toMatchObject({ status: "True", reason: "VersionRedefined" });
    expect(conditionOf(failed, "Failed")?.message).toContain(
      `version minilm-v1 in store ${storeName} was built with maxSequenceLength 512, not this run's 256; the store refuses this run's writes into it: fill a new version name`,
    );
    expect(
      (await kubectl(["get", "-n", ns, "job/jobs-vecspec-minilm-v1-bootstrap", "--ignore-not-found"])).trim(),
    ).toBe("");
  });

  // spec.version set back to a version readers use with the candidate's prompts (an abandoned
  // promotion whose prompts were not reverted; the API server lets prompts change with the version)
  // is VersionRedefined: the version keeps serving and its workers run as its record says. A run of
  // it was rendered with the spec's prompts and would write another template's vectors into it.
  it("fills a version the spec names with other prompts than it was built with as its record says", async () => {
    const ns = harness.namespace;
    const stored = parseEmbeddingModel(await kubectlJson(["get", "-n", ns, "embeddingmodel/jude-minilm"]));
    const built = stored.spec.prompts.job!;
    const record = desiredVersionRecord(stored, {
      version: stored.spec.version,
      spec: recordedSpec(stored),
      promotionStartTime: "2026-12-01T00:00:00Z",
      activatedTime: "2026-12-01T01:00:00Z",
      workers: true,
    });
    await applyObjects(ns, [{ ...record, metadata: { ...record.metadata, namespace: undefined } }]);
    const patchSpec = (spec: object) =>
      kubectl([
        "patch",
        "-n",
        ns,
        "embeddingmodel/jude-minilm",
        "--type=merge",
        "-p",
        JSON.stringify({ spec }),
      ]);
    await patchSpec({ version: "minilm-v2", prompts: { job: "Candidate: {{title}}" } });
    await patchSpec({ version: stored.spec.version });

    await applyObjects(ns, [bootstrapRun("jobs-minilm-v1-again", "jobs", 1)]);
    const configMap = await waitForObject<V1ConfigMap>(
      ns,
      "configmap/jobs-minilm-v1-again-bootstrap",
      "the run's shard config",
      () => true,
    );
    const config = bootstrapConfigSchema.parse(parse(configMap.data!["config.yaml"]!));
    expect(config.model.template).toBe(built);
  });
});

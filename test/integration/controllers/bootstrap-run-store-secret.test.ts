// A BootstrapRun whose shards finished (their Job completed) while the store Secret its checkpoints
// are read through is gone, or lost its key: only a person can put it back, so the run is Stalled
// (as it is for a deleted pipeline), naming the field and whether the Secret or only its key is
// missing, and it finishes once the Secret is back, without a restart. While its Job runs, its
// progress is said to be as last read, and why, instead of a stale percent with an ETA that grows.
// A run whose model is deleted under its Job still reads its checkpoints through the pipeline's Secret.
import type { V1Job } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../testbed/wait.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  conditionOf,
  patchStoreSecret,
  renameStoreSecretKey,
  resumeRun,
  startJobsControllers,
  waitForObject,
  warningEventsOf,
  type ControllersHarness,
  type WithConditions,
} from "./harness.ts";
import { bootstrapRun, storeSecret } from "./objects.ts";

type RunObject = WithConditions & { status?: { phase?: string } };

describe("a BootstrapRun whose store Secret goes away under its Job", () => {
  let harness: ControllersHarness;

  beforeAll(async () => {
    ({ harness } = await startJobsControllers("bootstrap-secret", [2]));
  });

  afterAll(async () => {
    await harness?.stop();
  });

  /** Runs `name` suspended, does `breakSecret`, resumes it, and returns the run once it is Stalled. */
  async function completedWithout(name: string, breakSecret: () => Promise<unknown>): Promise<RunObject> {
    const ns = harness.namespace;
    const run = bootstrapRun(name, "jobs", 1);
    (run.spec as { suspend: boolean }).suspend = true;
    await applyObjects(ns, [run]);
    await waitForObject<RunObject>(ns, `bootstraprun/${name}`, "Suspended", (object) =>
      ["Suspended"].includes(object.status?.phase ?? ""),
    );
    await breakSecret();
    await resumeRun(ns, name);
    await waitForObject<V1Job>(ns, `job/${name}-bootstrap`, "Job complete", (job) =>
      (job.status?.conditions ?? []).some(
        (condition) => condition.type === "Complete" && condition.status === "True",
      ),
    );
    return waitForObject<RunObject>(
      ns,
      `bootstraprun/${name}`,
      "CheckpointsUnreadable",
      (object) => conditionOf(object, "Ready")?.reason === "CheckpointsUnreadable",
    );
  }

  /** Checks that `run` is Stalled on its unreadable checkpoints, saying `message`. */
  function expectStalled(run: RunObject, message: string): void {
    expect(conditionOf(run, "Stalled")).toMatchObject({ status: "True", reason: "CheckpointsUnreadable" });
    expect(conditionOf(run, "Stalled")?.message).toContain(message);
  }

  /** Waits until the run finished: Failed ShardsIncomplete, as kwok completes shards that wrote nothing. */
  async function finishes(name: string): Promise<void> {
    const finished = await waitForObject<RunObject>(
      harness.namespace,
      `bootstraprun/${name}`,
      "run finished",
      (object) => ["Succeeded", "Failed"].includes(object.status?.phase ?? ""),
    );
    expect(conditionOf(finished, "Failed")).toMatchObject({ status: "True", reason: "ShardsIncomplete" });
  }

  it("says the store Secret's key is missing, Stalled, and finishes once the key is back", async () => {
    const ns = harness.namespace;
    try {
      const stuck = await completedWithout("jobs-key-renamed", () =>
        renameStoreSecretKey(ns, "url", "address"),
      );
      expect(stuck.status?.phase).toBe("Running");
      expectStalled(
        stuck,
        "spec.sinks.store.urlSecretRef names key url of Secret jude-redis, which has no such key",
      );
    } finally {
      await renameStoreSecretKey(ns, "address", "url");
    }
    await finishes("jobs-key-renamed");
  });

  it("says the store Secret does not exist, Stalled, and finishes once it is created again", async () => {
    const ns = harness.namespace;
    try {
      const stuck = await completedWithout("jobs-secret-deleted", () =>
        kubectl(["delete", "-n", ns, "secret/jude-redis", "--wait=true"]),
      );
      expectStalled(stuck, "spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist");
    } finally {
      await applyObjects(ns, [storeSecret()]);
    }
    await finishes("jobs-secret-deleted");
  });

  // Was: an emptied key was only a failed read ("store URL is not a URL; expected …"), naming neither
  // the Secret nor the field, and the run Reconciling for ever though only a person can mend it.
  it("says the store Secret's key is empty, Stalled, and finishes once it holds the URL again", async () => {
    const ns = harness.namespace;
    const url = (await kubectlJson<{ data: Record<string, string> }>(["get", "-n", ns, "secret/jude-redis"]))
      .data.url!;
    const setUrl = (value: string) => patchStoreSecret(ns, { data: { url: value } });
    try {
      const stuck = await completedWithout("jobs-key-emptied", () => setUrl(""));
      expectStalled(
        stuck,
        "spec.sinks.store.urlSecretRef names key url of Secret jude-redis, which is empty",
      );
    } finally {
      await setUrl(url);
    }
    await finishes("jobs-key-emptied");
  });

  // Stalled too (was: Reconciling, reason Running, until the Job ended): a shard pod started while the
  // Secret is gone cannot start, and only restoring it helps; the Job is left running.
  it("says a running run's progress is as last read, and why, Stalled SecretNotFound while the Secret is gone", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-running", "jobs", 1);
    // No node of the testbed has 500 CPUs: the shard waits, counted active, so the run is Running.
    (run.spec as { resources?: unknown }).resources = { requests: { cpu: "500" } };
    await applyObjects(ns, [run]);
    await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-running",
      "Running",
      (object) => object.status?.phase === "Running",
    );
    const unreadable =
      "as last read: the shards' checkpoints cannot be read now: NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist";
    try {
      await kubectl(["delete", "-n", ns, "secret/jude-redis", "--wait=true"]);
      const gone = await waitForObject<RunObject>(
        ns,
        "bootstraprun/jobs-running",
        "the unreadable checkpoints said",
        (object) => (conditionOf(object, "Ready")?.message ?? "").includes(unreadable),
      );
      expect(gone.status?.phase).toBe("Running");
      expect(conditionOf(gone, "Stalled")).toMatchObject({ status: "True", reason: "SecretNotFound" });
      expect(conditionOf(gone, "Stalled")?.message).toContain(
        "a shard pod started from now on cannot start until it is restored",
      );
      await kubectl(["get", "-n", ns, "job/jobs-running-bootstrap"]);
    } finally {
      await applyObjects(ns, [storeSecret()]);
    }
    await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-running",
      "the checkpoints read again",
      (object) => !(conditionOf(object, "Ready")?.message ?? "as last read").includes("as last read"),
    );
    expect(
      conditionOf(await kubectlJson<RunObject>(["get", "-n", ns, "bootstraprun/jobs-running"]), "Stalled"),
    ).toMatchObject({ status: "False" });
    await kubectl(["delete", "bootstraprun", "jobs-running", "-n", ns, "--wait=true"]);
  });

  // Was: a run applied while its store Secret is missing waited Pending, Stalled SecretNotFound, with
  // no Event: `kubectl get events` showed nothing for a run only a person can unblock.
  it("tells a run that cannot start for a missing Secret once as a Warning Event, and starts once it is back", async () => {
    const ns = harness.namespace;
    const name = "jobs-secret-first";
    const warnings = () => warningEventsOf(ns, "BootstrapRun", name);
    let message: string | undefined;
    try {
      await kubectl(["delete", "-n", ns, "secret/jude-redis", "--wait=true"]);
      await applyObjects(ns, [bootstrapRun(name, "jobs", 1)]);
      const waiting = await waitForObject<RunObject>(
        ns,
        `bootstraprun/${name}`,
        "Stalled SecretNotFound",
        (object) => conditionOf(object, "Stalled")?.reason === "SecretNotFound",
      );
      expect(waiting.status?.phase).toBe("Pending");
      message = conditionOf(waiting, "Stalled")?.message;
      expect(message).toBe(
        "NearlinePipeline jobs cannot run: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
      );
      await waitFor("the Warning Event", async () => (await warnings()).length > 0, {
        timeoutMs: 90_000,
        intervalMs: 500,
      });
      // A change of the run reconciles it again, as the 30 s recheck does: no second Warning.
      await kubectl(["annotate", "-n", ns, `bootstraprun/${name}`, "example.com/touched=1"]);
      await waitForObject<RunObject>(
        ns,
        `bootstraprun/${name}`,
        "still Stalled",
        (object) => conditionOf(object, "Stalled")?.reason === "SecretNotFound",
      );
    } finally {
      await applyObjects(ns, [storeSecret()]);
    }
    await finishes(name);
    // Once over the whole wait (the run's other Warning is its end: Failed, as kwok's shards write nothing).
    expect(
      (await warnings())
        .filter(({ reason }) => reason !== "Failed")
        .map(({ reason, message: said, count }) => ({ reason, said, count: count ?? 1 })),
    ).toEqual([{ reason: "SecretNotFound", said: message, count: 1 }]);
  });

  // Last: it deletes the model. The store Secret was read only for a pipeline whose model exists, so
  // this run's checkpoints were read through no Secret at all ("Secret jude-redis has no key url").
  it("reads the checkpoints of a run whose model was deleted under its Job, and finishes it", async () => {
    const ns = harness.namespace;
    const run = bootstrapRun("jobs-model-gone", "jobs", 1);
    (run.spec as { suspend: boolean }).suspend = true;
    await applyObjects(ns, [run]);
    await waitForObject<V1Job>(ns, "job/jobs-model-gone-bootstrap", "the suspended Job", () => true);
    await kubectl(["delete", "-n", ns, "embeddingmodel/jude-minilm", "--wait=true"]);
    await resumeRun(ns, "jobs-model-gone");
    await finishes("jobs-model-gone");
  });
});

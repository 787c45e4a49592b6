import type { V1Job } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { zeroCounts, type CheckpointState } from "../../pipelines/bootstrap/checkpoint-codec.ts";
import { resolveLiveVersions } from "../nearline-pipeline/live-versions.ts";
import { setPath, testModel, testPipeline, testRun } from "../nearline-pipeline/test-objects.ts";
import { etaMs, formatDuration, runProgress } from "./run-progress.ts";
import { describeFailing } from "../shared/failing-pods.ts";
import { describeRefused } from "../shared/refused-pods.ts";
import { describeUnschedulable } from "../shared/unschedulable-pods.ts";
import { isFinished, runStatus } from "./run-status.ts";
import { runStallCause } from "./stall-causes.ts";

const start = Date.parse("2026-12-01T10:00:00Z");

function shard(
  phase: CheckpointState["phase"],
  units: CheckpointState["units"],
  processed: number,
): CheckpointState {
  return {
    fingerprint: "f",
    phase,
    attempt: 1,
    startedAtMs: start,
    updatedAtMs: start,
    units,
    counts: { ...zeroCounts(), processed, embedded: Math.floor(processed / 2), deduplicated: 3, failed: 1 },
  };
}
const halfway = shard("running", { p0: { start: 0, end: 100, position: 50, done: false } }, 50);
const finished = shard("done", { p1: { start: 10, end: 110, position: 110, done: true } }, 100);
const allFailed: CheckpointState = {
  ...finished,
  counts: { ...zeroCounts(), processed: 100, failed: 100 },
};

function job(conditions: { type: string; reason?: string; message?: string }[], active = 0): V1Job {
  return {
    metadata: { name: "jobs-minilm-v1-bootstrap" },
    status: {
      active,
      startTime: new Date(start),
      completionTime: conditions.some((condition) => condition.type === "Complete")
        ? new Date(start + 60_000)
        : undefined,
      conditions: conditions.map((condition) => ({
        ...condition,
        status: "True",
        lastTransitionTime: new Date(start + 90_000),
      })),
    },
  };
}

describe("runProgress", () => {
  it("sums shards, weighs the percent by range size and knows the total once every shard started", () => {
    expect(runProgress([halfway, finished], "kafka")).toEqual({
      allDone: false,
      missingShards: [],
      progress: { total: 200, processed: 150, embedded: 75, deduplicated: 6, failed: 2, percent: 75 },
    });
    const partial = runProgress([halfway, null], "kafka");
    expect(partial.progress.total).toBeUndefined();
    expect(partial.missingShards).toEqual([1]);
    expect(runProgress([finished, finished], "kafka").progress.percent).toBe(100);
  });

  it("counts shards that have not started as not done, not the run as nearly finished", () => {
    // One of four shards finished, three still waiting for a node: a quarter done, not 99%.
    expect(runProgress([finished, null, null, null], "kafka").progress.percent).toBe(25);
    expect(runProgress([halfway, finished, null, null], "kafka").progress.percent).toBe(37);
  });

  it("estimates the time left from the rate so far", () => {
    expect(etaMs(25, start, start + 60_000)).toBe(180_000);
    expect(etaMs(0, start, start + 60_000)).toBeUndefined();
    expect(formatDuration(200_000)).toBe("3m 20s");
    expect(formatDuration(7_500_000)).toBe("2h 5m");
  });
});

describe("runStatus", () => {
  const now = start + 120_000;
  it.each([
    { name: "no Job yet", job: undefined, checkpoints: [], phase: "Pending", state: "Reconciling" },
    {
      name: "Job created, no pod started",
      job: job([]),
      checkpoints: [null, null],
      phase: "Pending",
      state: "Reconciling",
    },
    {
      name: "shards running",
      job: job([], 2),
      checkpoints: [halfway, finished],
      phase: "Running",
      state: "Reconciling",
      message: /^75% \(150 of 200 records.*about 40s left$/,
    },
    {
      name: "a shard waits on its embedding server",
      job: job([], 2),
      checkpoints: [
        {
          ...halfway,
          waiting: {
            dependency: "embedding",
            sinceMs: start + 60_000,
            error: "the embedding server fails every call, a probe too (INTERNAL: backend failed)",
          },
        },
        finished,
      ],
      phase: "Running",
      state: "Reconciling",
      reason: "Running",
      message:
        /^75% \(150 of 200 records.*left; shard 0 waits on the embedding server since 2026-12-01T10:01:00.000Z: the embedding server fails every call, a probe too \(INTERNAL: backend failed\)$/,
    },
    {
      name: "suspended",
      job: job([{ type: "Suspended" }]),
      checkpoints: [halfway, finished],
      phase: "Suspended",
      state: "Reconciling",
      message: /set spec\.suspend to false/,
    },
    {
      name: "completed",
      job: job([{ type: "Complete" }]),
      checkpoints: [finished, finished],
      phase: "Succeeded",
      state: "Ready",
      message: /^bootstrap succeeded: 100% \(200 of 200 records/,
    },
    {
      name: "completed, store unreadable: final counts wait",
      job: job([{ type: "Complete" }]),
      checkpoints: undefined,
      phase: "Running",
      state: "Reconciling",
    },
    {
      name: "completed, but a shard has no finished checkpoint",
      job: job([{ type: "Complete" }]),
      checkpoints: [finished, halfway],
      phase: "Failed",
      state: "Stalled",
      reason: "ShardsIncomplete",
      message: /the Job completed, but shard\(s\) 1 have no finished checkpoint/,
    },
    {
      name: "completed, but every record read failed",
      job: job([{ type: "Complete" }]),
      checkpoints: [allFailed, allFailed],
      phase: "Failed",
      state: "Stalled",
      reason: "NoRecordWritten",
      message: /every one of the 200 records read failed, so nothing was written/,
    },
    {
      name: "completed with some records failed",
      job: job([{ type: "Complete" }]),
      checkpoints: [finished, allFailed],
      phase: "Succeeded",
      state: "Ready",
    },
    {
      name: "deadline exceeded",
      job: job([
        {
          type: "Failed",
          reason: "DeadlineExceeded",
          message: "Job was active longer than specified deadline",
        },
      ]),
      checkpoints: [halfway, null],
      phase: "Failed",
      state: "Stalled",
      reason: "DeadlineExceeded",
    },
    {
      name: "back-off exhausted",
      job: job([{ type: "Failed", reason: "BackoffLimitExceeded" }]),
      checkpoints: [halfway, finished],
      phase: "Failed",
      state: "Stalled",
      reason: "BackoffLimitExceeded",
    },
  ])("$name", ({ job, checkpoints, phase, state, message, reason }) => {
    const decision = runStatus({ run: testRun(), job, checkpoints, nowMs: now });
    expect(decision.status.phase).toBe(phase);
    expect(decision.standing.state).toBe(state);
    if (message) expect(decision.standing.message).toMatch(message);
    if (reason) expect(decision.standing.reason).toBe(reason);
    const isTrue = (type: string) =>
      decision.conditions.find((condition) => condition.type === type)?.status === "True";
    expect(isTrue("Complete")).toBe(phase === "Succeeded");
    expect(isTrue("Failed")).toBe(phase === "Failed");
    expect(isTrue("Ready")).toBe(phase === "Succeeded");
    expect(isTrue("Reconciling")).toBe(phase === "Pending" || phase === "Running");
    expect(isTrue("Stalled")).toBe(phase === "Failed");
  });

  describe("shards the scheduler cannot place", () => {
    const unschedulable = {
      pods: 2,
      firstPod: "jobs-minilm-v1-bootstrap-0-abc",
      message: "0/3 nodes are available: 3 Insufficient memory.",
    };
    it.each([
      { name: "no shard started", job: job([], 2), checkpoints: [null, null], phase: "Running" },
      { name: "one shard runs", job: job([], 2), checkpoints: [halfway, null], phase: "Running" },
      { name: "Job just created", job: job([]), checkpoints: [null, null], phase: "Pending" },
    ])("$name: reason Unschedulable with the scheduler's message", ({ job, checkpoints, phase }) => {
      const decision = runStatus({ run: testRun(), job, checkpoints, nowMs: now, unschedulable });
      expect(decision.status.phase).toBe(phase);
      expect(decision.standing).toMatchObject({ state: "Reconciling", reason: "Unschedulable" });
      expect(decision.standing.message).toMatch(
        /; 2 pods cannot be scheduled \(jobs-minilm-v1-bootstrap-0-abc\): 0\/3 nodes are available: 3 Insufficient memory\.$/,
      );
    });

    it("leaves suspended, finished and failed runs as they are", () => {
      for (const conditions of [[{ type: "Suspended" }], [{ type: "Complete" }], [{ type: "Failed" }]]) {
        const decision = runStatus({
          run: testRun(),
          job: job(conditions),
          checkpoints: [finished, finished],
          nowMs: now,
          unschedulable,
        });
        expect(decision.standing.reason).not.toBe("Unschedulable");
        expect(decision.standing.message).not.toContain("cannot be scheduled");
      }
    });
  });

  describe("shard pods the kubelet cannot run", () => {
    const failing = {
      pods: 2,
      firstPod: "jobs-minilm-v1-bootstrap-0-abc",
      container: "container bootstrap",
      reason: "ErrImagePull",
      message: 'failed to pull image "registry.example.com/jude:0.1.0": 401 Unauthorized',
    };
    it.each([
      { name: "Job just created", job: job([]), checkpoints: [null, null], phase: "Pending" },
      { name: "one shard runs", job: job([], 2), checkpoints: [halfway, null], phase: "Running" },
    ])(
      "$name: Stalled PodFailing naming the pod, container and the kubelet's words",
      ({ job, checkpoints, phase }) => {
        const decision = runStatus({ run: testRun(), job, checkpoints, nowMs: now, failing });
        expect(decision.status.phase).toBe(phase);
        expect(decision.standing).toMatchObject({ state: "Stalled", reason: "PodFailing" });
        expect(decision.standing.message).toMatch(
          /; 2 pods cannot run \(jobs-minilm-v1-bootstrap-0-abc, container bootstrap\): ErrImagePull: failed to pull image "registry\.example\.com\/jude:0\.1\.0": 401 Unauthorized$/,
        );
        const stalled = decision.conditions.find((condition) => condition.type === "Stalled");
        expect(stalled).toMatchObject({ status: "True", reason: "PodFailing" });
      },
    );

    it("leaves suspended and finished runs as they are", () => {
      for (const conditions of [[{ type: "Suspended" }], [{ type: "Complete" }], [{ type: "Failed" }]]) {
        const decision = runStatus({
          run: testRun(),
          job: job(conditions),
          checkpoints: [finished, finished],
          nowMs: now,
          failing,
        });
        expect(decision.standing.reason).not.toBe("PodFailing");
      }
    });
  });

  it("names the last failed shard's exit in a Job that failed its back-off limit (OOMKilled)", () => {
    const decision = runStatus({
      run: testRun(),
      job: job([
        {
          type: "Failed",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
        },
      ]),
      checkpoints: [halfway, null],
      nowMs: now,
      lastShardFailure: "pod jobs-minilm-v1-bootstrap-0-abc, container bootstrap: OOMKilled, exit code 137",
    });
    expect(decision.status.phase).toBe("Failed");
    expect(decision.standing.reason).toBe("BackoffLimitExceeded");
    expect(decision.standing.message).toMatch(
      /^bootstrap failed: Job has reached the specified backoff limit; last failed shard: pod jobs-minilm-v1-bootstrap-0-abc, container bootstrap: OOMKilled, exit code 137; progress /,
    );
  });

  describe("a Job that reached its deadline while its shards were held back", () => {
    const deadline = job([
      {
        type: "Failed",
        reason: "DeadlineExceeded",
        message: "Job was active longer than specified deadline",
      },
    ]);
    // The Job controller deletes the pods as it fails the Job, so only the run's last status still
    // says what kept them from running.
    const heldBack = (reason: string, message: string) =>
      testRun((object) =>
        setPath(object, "status", {
          phase: "Pending",
          conditions: [
            { type: "Ready", status: "False", reason, message, lastTransitionTime: "2026-12-01T10:00:00Z" },
          ],
        }),
      );
    it.each([
      {
        reason: "Unschedulable",
        message:
          "waiting for the shards to start; 2 pods cannot be scheduled (jobs-minilm-v1-bootstrap-0-abc): 0/3 nodes are available: 3 Insufficient cpu.",
        cause:
          "2 pods cannot be scheduled (jobs-minilm-v1-bootstrap-0-abc): 0/3 nodes are available: 3 Insufficient cpu.",
      },
      {
        reason: "PodFailing",
        message:
          '10% (20 of 200 records, 10 texts embedded, 0 deduplicated, 0 failed); 1 pod cannot run (jobs-minilm-v1-bootstrap-1-def, container bootstrap): ImagePullBackOff: Back-off pulling image "jude:nope"',
        cause:
          '1 pod cannot run (jobs-minilm-v1-bootstrap-1-def, container bootstrap): ImagePullBackOff: Back-off pulling image "jude:nope"',
      },
      {
        reason: "FailedCreate",
        message:
          "waiting for the shards to start; the API server refuses to create its pods (fix the namespace's quota or policy, or the resource's spec): pods \"x\" is forbidden: exceeded quota",
        cause:
          "the API server refuses to create its pods (fix the namespace's quota or policy, or the resource's spec): pods \"x\" is forbidden: exceeded quota",
      },
    ])("$reason: the failure names what held the shards back", ({ reason, message, cause }) => {
      const decision = runStatus({
        run: heldBack(reason, message),
        job: deadline,
        checkpoints: [null, null],
        nowMs: now,
      });
      expect(decision.status.phase).toBe("Failed");
      expect(decision.standing.reason).toBe("DeadlineExceeded");
      expect(decision.standing.message).toBe(
        `bootstrap failed: Job was active longer than specified deadline; the shards were held back: ${cause}; progress 0% (0 records, 0 texts embedded, 0 deduplicated, 0 failed)`,
      );
      const failed = decision.conditions.find((condition) => condition.type === "Failed");
      expect(failed?.message).toContain(cause);
    });

    it("names pods still held back as the Job fails, before the run's last status", () => {
      const decision = runStatus({
        run: heldBack("Unschedulable", "waiting for the shards to start; 1 pod cannot be scheduled (old): x"),
        job: deadline,
        checkpoints: [null, null],
        nowMs: now,
        failing: {
          pods: 1,
          firstPod: "jobs-minilm-v1-bootstrap-0-abc",
          container: "container bootstrap",
          reason: "CreateContainerConfigError",
          message: 'secret "store" not found',
        },
      });
      expect(decision.standing.message).toContain(
        'the shards were held back: 1 pod cannot run (jobs-minilm-v1-bootstrap-0-abc, container bootstrap): CreateContainerConfigError: secret "store" not found;',
      );
      expect(decision.standing.message).not.toContain("(old)");
    });

    it("keeps saying what held the pods back while the Job deletes them, before it reads as failed", () => {
      const message =
        "waiting for the shards to start; 2 pods cannot be scheduled (jobs-minilm-v1-bootstrap-0-abc): 0/3 nodes are available: 3 Insufficient cpu.";
      const run = heldBack("Unschedulable", message);
      const gone = runStatus({ run, job: job([]), checkpoints: [null, null], nowMs: now, shardPods: 0 });
      expect(gone.standing).toEqual({ state: "Reconciling", reason: "Unschedulable", message });
      const failing = heldBack(
        "PodFailing",
        "waiting for the shards to start; 1 pod cannot run (p, container c): X: y",
      );
      expect(
        runStatus({ run: failing, job: job([]), checkpoints: [null, null], nowMs: now, shardPods: 0 })
          .standing,
      ).toMatchObject({ state: "Stalled", reason: "PodFailing" });
      // A pod that is there and held back by nothing any more says otherwise.
      const placed = runStatus({ run, job: job([], 2), checkpoints: [null, null], nowMs: now, shardPods: 2 });
      expect(placed.standing).toMatchObject({ state: "Reconciling", reason: "Running" });
      expect(placed.standing.message).not.toContain("cannot be scheduled");
    });

    it("recovers every cause the run's own Ready message named, with retries and waits before them, and says held back once", () => {
      const causes = {
        refused: { message: 'admission webhook "policy" denied the request: a; b; c' },
        unschedulable: {
          pods: 2,
          firstPod: "jobs-minilm-v1-bootstrap-0-abc",
          message: "0/3 nodes are available: 1 node(s) had untolerated taint {x: y}; 2 Insufficient cpu.",
        },
        failing: {
          pods: 1,
          firstPod: "jobs-minilm-v1-bootstrap-1-def",
          container: "container bootstrap",
          reason: "ImagePullBackOff",
          message: 'Back-off pulling image "jude:nope"; 1 pod cannot run (not this one)',
        },
      };
      const waiting = {
        ...halfway,
        waiting: { dependency: "embedding", sinceMs: start, error: "HTTP 503; retry later" },
      } as CheckpointState;
      // The run's status as this module wrote it while the shards were held back, retried and waiting.
      const before = runStatus({
        run: testRun(),
        job: job([], 2),
        checkpoints: [waiting, null],
        nowMs: now,
        retries: { failed: 1, last: "pod p, container c: Error, exit code 1 (died; badly)" },
        ...causes,
        shardPods: 3,
      });
      expect(before.standing.reason).toBe("PodFailing");
      const run = testRun((object) =>
        setPath(object, "status", {
          phase: "Running",
          conditions: before.conditions.map((condition) => ({
            ...condition,
            lastTransitionTime: "2026-12-01T10:00:00Z",
          })),
        }),
      );
      const expected = [
        describeRefused(causes.refused),
        describeUnschedulable(causes.unschedulable),
        describeFailing(causes.failing),
      ].join("; ");
      const recovered = runStatus({
        run,
        job: deadline,
        checkpoints: [waiting, null],
        nowMs: now,
        shardPods: 0,
      });
      const live = runStatus({
        run: testRun(),
        job: deadline,
        checkpoints: [waiting, null],
        nowMs: now,
        ...causes,
      });
      for (const decision of [recovered, live]) {
        expect(decision.standing.message).toContain(
          `Job was active longer than specified deadline; the shards were held back: ${expected}; progress `,
        );
        expect(decision.standing.message.split("held back").length).toBe(2);
      }
    });

    it("inherits nothing when no pod is there but the last status did not say they were held back", () => {
      const withReady = (reason: string, message: string) =>
        testRun((object) =>
          setPath(object, "status", {
            phase: "Suspended",
            conditions: [
              { type: "Ready", status: "False", reason, message, lastTransitionTime: "2026-12-01T10:00:00Z" },
            ],
          }),
        );
      // Resumed (the Job controller deleted the pods on suspend; the new ones are not made yet), a
      // brand-new run, a run whose Job was replaced for another store: Pending, nothing more.
      for (const run of [
        withReady("Suspended", "suspended at 0%; 1 pod cannot be scheduled (p): 0/3 nodes are available"),
        testRun(),
        withReady("StoreChanged", "1 pod cannot run (p, container c): X: y"),
      ])
        expect(
          runStatus({ run, job: job([]), checkpoints: [null, null], nowMs: now, shardPods: 0 }).standing,
        ).toEqual({ state: "Reconciling", reason: "Pending", message: "waiting for the shards to start" });
    });

    it("says nothing more of a run that was running unhindered", () => {
      const decision = runStatus({
        run: heldBack("Running", "10% (20 of 200 records); 1 pod cannot run (p, container c): looks alike"),
        job: deadline,
        checkpoints: [halfway, null],
        nowMs: now,
      });
      expect(decision.standing.message).toMatch(
        /^bootstrap failed: Job was active longer than specified deadline; progress /,
      );
    });
  });

  describe("shard pods the API server refuses to create", () => {
    const refused = {
      message:
        'pods "jobs-minilm-v1-bootstrap-0-lgdcq" is forbidden: failed quota: compute: must specify limits.cpu for: bootstrap',
    };
    it("says FailedCreate with the API server's answer instead of waiting for the shards to start", () => {
      const decision = runStatus({
        run: testRun(),
        job: job([]),
        checkpoints: [null, null],
        nowMs: now,
        refused,
      });
      expect(decision.status.phase).toBe("Pending");
      expect(decision.standing).toMatchObject({ state: "Reconciling", reason: "FailedCreate" });
      expect(decision.standing.message).toMatch(
        /^waiting for the shards to start; the API server refuses to create its pods .*: pods "jobs-minilm-v1-bootstrap-0-lgdcq" is forbidden: failed quota: compute: must specify limits\.cpu for: bootstrap$/,
      );
      const both = runStatus({
        run: testRun(),
        job: job([], 1),
        checkpoints: [halfway, null],
        nowMs: now,
        refused,
        unschedulable: { pods: 1, firstPod: "p", message: "0/3 nodes are available" },
      });
      expect(both.standing.reason).toBe("FailedCreate");
      expect(both.standing.message).toContain("1 pod cannot be scheduled (p)");
    });

    it("leaves suspended and finished runs as they are", () => {
      for (const conditions of [[{ type: "Suspended" }], [{ type: "Complete" }], [{ type: "Failed" }]]) {
        const decision = runStatus({
          run: testRun(),
          job: job(conditions),
          checkpoints: [finished, finished],
          nowMs: now,
          refused,
        });
        expect(decision.standing.reason).not.toBe("FailedCreate");
        expect(decision.standing.message).not.toContain("refuses");
      }
    });
  });

  it("records start and completion times from the Job", () => {
    const decision = runStatus({
      run: testRun(),
      job: job([{ type: "Complete" }]),
      checkpoints: [finished],
      nowMs: now,
    });
    expect(decision.status).toMatchObject({
      startTime: "2026-12-01T10:00:00Z",
      completionTime: "2026-12-01T10:01:00Z",
      jobName: "jobs-minilm-v1-bootstrap",
    });
    const failed = runStatus({ run: testRun(), job: job([{ type: "Failed" }]), checkpoints: [], nowMs: now });
    expect(failed.status.completionTime).toBe("2026-12-01T10:01:30Z");
  });

  it("says why a completed Job's checkpoints cannot be read instead of reporting it Running", () => {
    const missing = runStatus({
      run: testRun(),
      job: job([{ type: "Complete" }]),
      checkpoints: undefined,
      checkpointsUnreadable: { message: "NearlinePipeline jobs does not exist", stalled: true },
      nowMs: now,
    });
    expect(missing.status.phase).toBe("Running");
    expect(missing.standing).toEqual({
      state: "Stalled",
      reason: "CheckpointsUnreadable",
      message:
        "the Job completed, but its shards' checkpoints cannot be read to confirm they finished: NearlinePipeline jobs does not exist; the run finishes once they can be read",
    });
    const storeDown = runStatus({
      run: testRun(),
      job: job([{ type: "Complete" }]),
      checkpoints: undefined,
      checkpointsUnreadable: { message: "connection refused", stalled: false },
      nowMs: now,
    });
    expect(storeDown.standing).toMatchObject({ state: "Reconciling", reason: "CheckpointsUnreadable" });
    // A running Job keeps its progress message; the next read catches up.
    const running = runStatus({
      run: testRun(),
      job: job([], 1),
      checkpoints: undefined,
      checkpointsUnreadable: { message: "connection refused", stalled: false },
      nowMs: now,
    });
    expect(running.standing.reason).toBe("Running");
  });

  // Was: "40% (…); about 3m 0s left", the percent as last read and an ETA that only grew while the
  // checkpoints could not be read (a store Secret deleted under a running Job), with no word of why.
  it("says a running Job's progress is as last read, without an ETA, while its checkpoints cannot be read", () => {
    const lastRead = testRun((object) =>
      setPath(object, "status", {
        phase: "Running",
        startTime: "2026-12-01T10:00:00Z",
        progress: { processed: 40, embedded: 30, deduplicated: 10, failed: 0, percent: 40 },
      }),
    );
    const decision = runStatus({
      run: lastRead,
      job: job([], 1),
      checkpoints: undefined,
      checkpointsUnreadable: {
        message:
          "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
        stalled: true,
      },
      nowMs: Date.parse("2026-12-01T10:02:00Z"),
    });
    expect(decision.status.progress?.percent).toBe(40);
    expect(decision.standing).toEqual({
      state: "Reconciling",
      reason: "Running",
      message:
        "40% (40 records, 30 texts embedded, 10 deduplicated, 0 failed) as last read: the shards' checkpoints cannot be read now: NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
    });
  });

  // Was: "no shard has reported yet as last read: …" for a run whose checkpoints were never read (the
  // store Secret gone before the first read): no count was ever read, so none is "as last read".
  it("says no progress was read yet, rather than counts as last read, when none ever was", () => {
    const decision = runStatus({
      run: testRun((object) =>
        setPath(object, "status", { phase: "Running", startTime: "2026-12-01T10:00:00Z" }),
      ),
      job: job([], 1),
      checkpoints: undefined,
      checkpointsUnreadable: { message: "Secret jude-redis does not exist", stalled: true },
      nowMs: Date.parse("2026-12-01T10:02:00Z"),
    });
    expect(decision.status.progress).toBeUndefined();
    expect(decision.standing).toEqual({
      state: "Reconciling",
      reason: "Running",
      message:
        "no progress read yet: the shards' checkpoints cannot be read now: Secret jude-redis does not exist",
    });
  });

  it("treats a run whose status is Succeeded or Failed as finished", () => {
    expect(isFinished(testRun((object) => setPath(object, "status.phase", "Succeeded")))).toBe(true);
    expect(isFinished(testRun((object) => setPath(object, "status.phase", "Failed")))).toBe(true);
    expect(isFinished(testRun((object) => setPath(object, "status.phase", "Suspended")))).toBe(false);
  });
});

describe("runStallCause", () => {
  const surroundings = (pipelineExists = true, version = "minilm-v1") => {
    const model = testModel();
    return {
      run: testRun((object) => setPath(object, "spec.modelVersion", version)),
      pipeline: pipelineExists
        ? {
            pipeline: testPipeline(),
            model,
            siblings: [],
            secrets: new Map([["jude-redis", new Set(["url"])]]),
          }
        : undefined,
      versions: resolveLiveVersions(model),
    };
  };
  it.each([
    { name: "runnable", input: surroundings(), reason: undefined },
    {
      name: "missing pipeline",
      input: surroundings(false),
      reason: "PipelineNotFound",
      message: /^spec\.pipelineRef\.name: NearlinePipeline jobs does not exist/,
    },
    {
      name: "version not served",
      input: surroundings(true, "minilm-v9"),
      reason: "VersionNotServed",
      message:
        /^spec\.modelVersion: EmbeddingModel jude-minilm does not serve version minilm-v9 \(live: minilm-v1\)/,
    },
    {
      name: "model kept off its store by another model",
      input: (() => {
        const input = surroundings();
        const model = input.pipeline!.model!;
        model.status = {
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "StoreConflict",
              message: "store jude:jobs belongs to EmbeddingModel other/jobs-model",
              lastTransitionTime: "2026-12-02T00:00:00Z",
            },
          ],
        };
        return input;
      })(),
      reason: "StoreConflict",
      message:
        /^EmbeddingModel jude-minilm is kept off store \S+, so this run would write into another model's store: store jude:jobs belongs to EmbeddingModel other\/jobs-model$/,
    },
    {
      name: "files source with a pipeline whose ids come from the record key",
      input: {
        ...surroundings(),
        run: testRun((object) => {
          setPath(object, "spec.source", { files: { uris: ["pvc://exports/jobs/*.jsonl"] } });
        }),
        pipeline: {
          ...surroundings().pipeline!,
          pipeline: testPipeline("nearline-pipeline-jobs.yaml", (object) => {
            setPath(object, "spec.decode.keyPath", undefined);
            setPath(object, "spec.decode.recordKeyPath", "$.jobId");
          }),
        },
      },
      reason: "KeyPathRequired",
      message:
        /^spec\.source\.files: file lines have no record key, so NearlinePipeline jobs must name the entity id inside the value with spec\.decode\.keyPath; it takes the id from the record key \(decode\.recordKeyPath \$\.jobId\)$/,
    },
    {
      name: "pipeline stalled",
      input: { ...surroundings(), pipeline: { ...surroundings().pipeline!, secrets: new Map() } },
      reason: "SecretNotFound",
      message: /^NearlinePipeline jobs cannot run: .*Secret jude-redis/,
    },
  ])("$name", ({ input, reason, message }) => {
    const cause = runStallCause(input);
    expect(cause?.reason).toBe(reason);
    if (message) expect(cause?.message).toMatch(message);
  });
});

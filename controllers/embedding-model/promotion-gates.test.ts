import { describe, expect, it } from "vitest";
import { httpsModel } from "./test-models.ts";
import { setPath, testPipeline, testRun } from "../nearline-pipeline/test-objects.ts";
import { bootstrapGate, caughtUpGate, coverageGate, parityGate } from "./promotion-gates.ts";
import { bootstrapObservation, lagObservation } from "./promotion-observe.ts";
import { desiredVersionRecord, parseVersionRecord, recordedSpec, sameVectors } from "./version-record.ts";

// A BootstrapRun's Ready, Reconciling and Stalled conditions, `trueType` True and the others False,
// all with the same reason and message.
const runConditions = (trueType: "Reconciling" | "Stalled", reason: string, message: string) =>
  ["Ready", "Reconciling", "Stalled"].map((type) => ({
    type,
    status: type === trueType ? "True" : "False",
    reason,
    message,
    lastTransitionTime: "2026-12-01T10:00:00Z",
  }));

describe("gates (decision tables)", () => {
  it.each([
    ["no pipelines", { pipelines: 0, reporting: 0 }, "Open", "NoPipelines"],
    ["a pipeline not reporting", { pipelines: 2, reporting: 1, records: 0 }, "Shut", "WaitingForWorkers"],
    ["nothing left to read", { pipelines: 1, reporting: 1, records: 0 }, "Open", "CaughtUp"],
    [
      "behind but fresh within the gate",
      { pipelines: 1, reporting: 1, records: 40, freshnessSeconds: 2 },
      "Open",
      "CaughtUp",
    ],
    [
      "behind and stale",
      { pipelines: 1, reporting: 1, records: 40, freshnessSeconds: 31 },
      "Shut",
      "CatchingUp",
    ],
  ] as const)("CaughtUp: %s -> %s", (_, lag, state, reason) => {
    expect(caughtUpGate("v2", lag, 30)).toMatchObject({ state, reason });
  });

  it("CaughtUp on lag 0 with no freshness figure says why there is none: nothing written in the last minute", () => {
    // Was "freshness p95 unknown", as if a figure were missing while the gate opened on lag 0.
    expect(caughtUpGate("v2", { pipelines: 1, reporting: 1, records: 0 }, 30)).toMatchObject({
      state: "Open",
      message:
        "version v2: lag 0 records, freshness p95 none: no vector written in the last minute (gate 30s)",
    });
    expect(
      caughtUpGate("v2", { pipelines: 1, reporting: 1, records: 0, freshnessSeconds: 0.42 }, 30).message,
    ).toBe("version v2: lag 0 records, freshness p95 0.4s (gate 30s)");
    // Workers not reporting yet: neither figure is known.
    expect(caughtUpGate("v2", { pipelines: 1, reporting: 0 }, 30).message).toBe(
      "0/1 pipelines report version v2's workers; lag unknown records, freshness p95 unknown (gate 30s)",
    );
  });

  it("CaughtUp names a pipeline scaled to no workers, whose lag only grows", () => {
    const pipelines = [
      testPipeline(),
      testPipeline("nearline-pipeline-jobs.yaml", (object) => {
        setPath(object, "metadata.name", "idle");
        setPath(object, "spec.workers.replicas", 0);
      }),
    ];
    const lag = lagObservation(pipelines, "v2");
    expect(lag).toMatchObject({ pipelines: 2, reporting: 0, withoutWorkers: ["idle"] });
    expect(caughtUpGate("v2", lag, 30).message).toContain(
      "NearlinePipeline idle runs no workers (spec.workers.replicas is 0): scale it up",
    );
    const behind = caughtUpGate("v2", { ...lag, reporting: 2, records: 40, freshnessSeconds: 31 }, 30);
    expect(behind).toMatchObject({ reason: "CatchingUp" });
    expect(behind.message).toContain("NearlinePipeline idle runs no workers");
    expect(caughtUpGate("v2", lagObservation([testPipeline()], "v2"), 30).message).not.toContain(
      "no workers",
    );
  });

  it("CaughtUp says why a pipeline does not report the candidate: workers not ready, or their first report awaited", () => {
    const stalled = testPipeline("nearline-pipeline-jobs.yaml", (object) => {
      setPath(object, "status", {
        versions: [{ version: "v2", readyReplicas: 0 }],
        conditions: [
          {
            type: "Ready",
            status: "False",
            lastTransitionTime: "2026-12-04T10:00:00Z",
            reason: "PodFailing",
            message:
              "version v2: Deployment jobs-v2-nearline: 0 of 3 workers ready; 1 pod cannot run (jobs-v2-nearline-a-b, container nearline): CrashLoopBackOff: back-off 40s",
          },
          {
            type: "Stalled",
            status: "True",
            lastTransitionTime: "2026-12-04T10:00:00Z",
            reason: "PodFailing",
            message: "same",
          },
        ],
      });
    });
    const starting = testPipeline("nearline-pipeline-jobs.yaml", (object) => {
      setPath(object, "metadata.name", "members");
      setPath(object, "status", {
        versions: [{ version: "v2", readyReplicas: 2 }],
        conditions: [
          {
            type: "Ready",
            status: "True",
            lastTransitionTime: "2026-12-04T10:00:00Z",
            reason: "WorkersReady",
            message: "ok",
          },
        ],
      });
    });
    const message = caughtUpGate("v2", lagObservation([stalled, starting], "v2"), 30).message;
    expect(message).toBe(
      "0/2 pipelines report version v2's workers; lag unknown records, freshness p95 unknown (gate 30s); NearlinePipeline jobs is not Ready (PodFailing): version v2: Deployment jobs-v2-nearline: 0 of 3 workers ready; 1 pod cannot run (jobs-v2-nearline-a-b, container nearline): CrashLoopBackOff: back-off 40s; NearlinePipeline members: waiting for a lag figure from its 2 ready workers (read every 2 s for a minute after they turn ready, then every 30 s)",
    );
    // Whatever the poll (--pipeline-poll-seconds), awaited figures are read again every 2 s.
    expect(caughtUpGate("v2", lagObservation([starting], "v2", 5_000), 30).message).toContain(
      "NearlinePipeline members: waiting for a lag figure from its 2 ready workers (read every 2 s for a minute after they turn ready, then every 5 s)",
    );
  });

  it.each([
    [undefined, "Shut", undefined],
    [{ candidateLive: 990, baseLive: 1000 }, "Open", 0.99],
    [{ candidateLive: 989, baseLive: 1000 }, "Shut", 0.989],
    [{ candidateLive: 0, baseLive: 0 }, "Open", 1],
  ] as const)("CoverageMet: %j -> %s (%s)", (coverage, state, value) => {
    expect(coverageGate("v2", coverage, 0.99)).toMatchObject({
      state,
      ...(value === undefined ? {} : { value }),
    });
  });

  it.each([
    [undefined, "Shut", "Unmeasured"],
    [{ sampled: 0, matched: 0 }, "Shut", "NothingToSample"],
    [{ sampled: 8, matched: 8, minCosine: 0.9995 }, "Open", "ParityPassed"],
    [
      { sampled: 8, matched: 7, minCosine: 0.97, firstMismatch: "job:3 cosine 0.97" },
      "Failed",
      "ParityFailed",
    ],
  ] as const)("ParityPassed: %j -> %s", (parity, state, reason) => {
    expect(parityGate("v2", parity)).toMatchObject({ state, reason });
  });
});

describe("version record", () => {
  it("reads back what it wrote, so a restarted operator sees the same facts", () => {
    const model = httpsModel();
    const record = {
      version: "v7",
      spec: recordedSpec(model),
      promotionStartTime: "2026-12-02T10:00:00Z",
      activatedTime: "2026-12-02T10:05:00Z",
      deactivatedTime: "2026-12-02T11:00:00Z",
      workers: true,
      fromBootstrap: true,
      store: "jobs-store",
    };
    const configMap = desiredVersionRecord(model, record);
    expect(configMap.metadata?.name).toBe("minilm-cpu-v7-record");
    expect(parseVersionRecord(configMap)).toEqual(record);
    expect(parseVersionRecord({ data: { version: "v7" } })).toBeUndefined();
  });

  // Records written before the operator kept the store's name: workers ran, or a build started, only
  // in a store, so such a version's vectors are in one whose name the record does not say.
  it("reads a record without a store as in an unnamed store when its workers ran or its build started", () => {
    const base = { version: "v7", "spec.json": "{}", promotionStartTime: "2026-12-02T10:00:00Z" };
    expect(parseVersionRecord({ data: { ...base, workers: "true" } })?.store).toBe("");
    expect(parseVersionRecord({ data: { ...base, fromBootstrap: "true" } })?.store).toBe("");
    expect(parseVersionRecord({ data: base })?.store).toBeUndefined();
    // This operator says so either way: a build whose workers ran is not a version readers used there.
    expect(
      parseVersionRecord({ data: { ...base, workers: "true", inStore: "false" } })?.store,
    ).toBeUndefined();
  });

  // After `helm upgrade`, records written by the older operator are read by the newer one. A field the
  // newer release adds with a default is filled in on the live object by the API server (from the
  // upgraded CRD) but is absent from the record's spec.json; a release that declares the fields in
  // another order writes them in another order. Neither is another model: compared as written, every
  // active version read VersionRedefined (Stalled) after such an upgrade, bootstrap runs filled it from
  // the record, and the serving builders rendered its older versions without the new field.
  it("reads a record an older release wrote without a field this release defaults, or in another order, as the same version", () => {
    const model = httpsModel();
    const written = recordedSpec(model);
    const {
      pooling: _pooling,
      precision: _precision,
      ...olderModel
    } = written.model as unknown as Record<string, unknown>;
    const { maxBatchSize: _maxBatchSize, ...olderBatching } = written.serving.batching as unknown as Record<
      string,
      unknown
    >;
    const reordered = Object.fromEntries(Object.entries(olderModel).reverse());
    const configMap = desiredVersionRecord(model, {
      version: "v7",
      spec: {
        ...written,
        model: reordered as never,
        serving: { ...written.serving, batching: olderBatching as never },
      },
      promotionStartTime: "2026-12-02T10:00:00Z",
    });
    const record = parseVersionRecord(configMap)!;
    expect(record.spec.model).toMatchObject({ pooling: "mean", precision: "fp32" });
    expect(record.spec.serving.batching.maxBatchSize).toBe(32);
    expect(sameVectors(record.spec, written)).toBe(true);
    expect(record.spec).toEqual(written);
  });

  // Kept as written (its record is written back so), and compared as this release knows it: the
  // live model is read without the newer release's field too (crds/resource.ts fromApiServer).
  it("keeps a recorded spec this release cannot validate as it was written (a newer release's field)", () => {
    const model = httpsModel();
    const written = recordedSpec(model);
    const newer = { ...written, model: { ...written.model, truncation: "left" } as never };
    const configMap = desiredVersionRecord(model, {
      version: "v7",
      spec: newer,
      promotionStartTime: "2026-12-02T10:00:00Z",
    });
    const read = parseVersionRecord(configMap)!.spec;
    expect(read).toEqual(newer);
    expect(sameVectors(read, written)).toBe(true);
    // A field of this release it knows still tells them apart.
    expect(sameVectors(read, { ...written, model: { ...written.model, precision: "int8" } })).toBe(false);
  });

  it("tells specs apart by model and prompts, not serving settings", () => {
    const spec = recordedSpec(httpsModel());
    expect(sameVectors(spec, { ...spec, serving: { ...spec.serving, replicas: 9 } })).toBe(true);
    expect(sameVectors(spec, { ...spec, prompts: { query: "q: {{text}}" } })).toBe(false);
    expect(sameVectors(spec, { ...spec, model: { ...spec.model, precision: "int8" } })).toBe(false);
  });
});

describe("BootstrapComplete names why the run's shards do not run", () => {
  const refusal =
    'waiting for the shards to start; pods "jobs-minilm-v2-bootstrap-0-x" is forbidden: exceeded quota: compute';
  const held = (reason: string) =>
    testRun((object) => {
      setPath(object, "status.phase", "Pending");
      setPath(object, "status.conditions", [
        {
          type: "Ready",
          status: "False",
          reason,
          message: refusal,
          lastTransitionTime: "2026-12-01T10:00:00Z",
        },
      ]);
    });

  it.each(["FailedCreate", "Unschedulable", "PodFailing", "ShardsRetried"])(
    "%s: the run's message is in the gate's",
    (reason) => {
      const run = held(reason);
      const observation = bootstrapObservation([testPipeline()], [run]);
      expect(observation?.heldBack).toBe(refusal);
      expect(bootstrapGate("v2", observation, "building")).toMatchObject({
        state: "Shut",
        reason: "Bootstrapping",
        message: `BootstrapRun ${run.metadata.name} is Pending (0%): ${refusal}`,
      });
    },
  );

  // A kubernetes.io/tls Secret made with `kubectl create secret tls` has no ca.crt: the serving pods
  // start, but the pipeline (its workers and shards verify the server with it) cannot run.
  it("a run Stalled before its shards start (a Secret of its pipeline missing): its message is in the gate's", () => {
    const message =
      "NearlinePipeline jobs cannot run: EmbeddingModel jude-minilm: spec.serving.tls.secretName names key ca.crt of Secret minilm-tls, which has no such key";
    const run = testRun((object) => {
      setPath(object, "status.phase", "Pending");
      setPath(object, "status.conditions", runConditions("Stalled", "SecretNotFound", message));
    });
    const observation = bootstrapObservation([testPipeline()], [run]);
    expect(bootstrapGate("v2", observation, "building").message).toBe(
      `BootstrapRun ${run.metadata.name} is Pending (0%): ${message}`,
    );
  });

  it("a run that is only progressing says its percentage alone", () => {
    const observation = bootstrapObservation([testPipeline()], [held("Running")]);
    expect(observation?.heldBack).toBeUndefined();
    expect(bootstrapGate("v2", observation, "building").message).toMatch(/is Pending \(0%\)$/);
  });
});

describe("BootstrapComplete over several pipelines' runs", () => {
  const run = (pipeline: string, phase: string, percent?: number) =>
    testRun((object) => {
      setPath(object, "metadata.name", `${pipeline}-v2-promotion`);
      setPath(object, "spec.pipelineRef.name", pipeline);
      setPath(object, "status.phase", phase);
      if (percent !== undefined) setPath(object, "status.progress", { percent });
    });
  const pipelines = ["jobs", "members"].map((name) =>
    testPipeline("nearline-pipeline-jobs.yaml", (object) => setPath(object, "metadata.name", name)),
  );

  // The mean alone ("jobs-v2-promotion, members-v2-promotion is Running (50%)") read as if both
  // runs were half done while one had finished, and disagreed with each run's own progress bar.
  it("names each run's phase and percentage beside the mean", () => {
    const observation = bootstrapObservation(pipelines, [
      run("jobs", "Succeeded"),
      run("members", "Running", 46),
    ]);
    expect(bootstrapGate("v2", observation, "building")).toMatchObject({
      state: "Shut",
      reason: "Bootstrapping",
      value: 0.73,
      message: "BootstrapRuns jobs-v2-promotion Succeeded, members-v2-promotion Running (46%): 73% in all",
    });
  });

  it("keeps the one-run wording for a single pipeline", () => {
    const observation = bootstrapObservation([pipelines[0]!], [run("jobs", "Running", 46)]);
    expect(bootstrapGate("v2", observation, "building").message).toBe(
      "BootstrapRun jobs-v2-promotion is Running (46%)",
    );
  });
});

// A second run of a version waits (AnotherRunInFlight) while another fills it; the promotion follows
// the one that fills it, wherever the waiting one stands in the list.
describe("BootstrapComplete with a run waiting for another", () => {
  it("follows the running run, not the one waiting for it", () => {
    const waiting = testRun((object) => {
      setPath(object, "metadata.name", "jobs-v2-promotion");
      setPath(object, "status.phase", "Pending");
      setPath(object, "status.conditions", [
        {
          type: "Ready",
          status: "False",
          reason: "AnotherRunInFlight",
          message: "BootstrapRun jobs-v2-manual fills version v2 of NearlinePipeline jobs already",
          lastTransitionTime: "2026-12-01T10:00:00Z",
        },
      ]);
    });
    const running = testRun((object) => {
      setPath(object, "metadata.name", "jobs-v2-manual");
      setPath(object, "status.phase", "Running");
      setPath(object, "status.progress", { percent: 40 });
    });
    const observation = bootstrapObservation([testPipeline()], [waiting, running]);
    expect(observation).toMatchObject({ name: "jobs-v2-manual", phase: "Running", percent: 40 });
  });

  // Was "BootstrapRun jobs-v2-promotion is Pending (0%)" alone, and so the promotion's deadline message,
  // while the promotion's run waited for a user's run of an earlier build (which the gate leaves out).
  it("says whose run the promotion's run waits for when that run is not one the gate follows", () => {
    const waiting = testRun((object) => {
      setPath(object, "metadata.name", "jobs-v2-promotion");
      setPath(object, "status.phase", "Pending");
      setPath(
        object,
        "status.conditions",
        runConditions(
          "Reconciling",
          "AnotherRunInFlight",
          "BootstrapRun jobs-v2-manual fills version v2 of NearlinePipeline jobs already",
        ),
      );
    });
    const observation = bootstrapObservation([testPipeline()], [waiting]);
    expect(bootstrapGate("v2", observation, "building").message).toBe(
      "BootstrapRun jobs-v2-promotion is Pending (0%): BootstrapRun jobs-v2-manual fills version v2 of NearlinePipeline jobs already",
    );
  });
});

describe("BootstrapComplete of a failed run", () => {
  // As the BootstrapRun controller writes them for a failed run: Ready False, Stalled and Failed True.
  const failedConditions = (reason: string, message: string) =>
    ["Ready", "Stalled", "Failed"].map((type) => ({
      type,
      status: type === "Ready" ? "False" : "True",
      reason,
      message,
      lastTransitionTime: "2026-12-01T10:00:00Z",
    }));
  it("quotes the run's failure without saying twice that it failed", () => {
    const cause =
      "bootstrap failed: Job has reached the specified backoff limit; progress 40% (4 records, 4 texts embedded, 0 deduplicated, 0 failed)";
    const run = testRun((object) => {
      setPath(object, "status.phase", "Failed");
      setPath(object, "status.conditions", failedConditions("BackoffLimitExceeded", cause));
    });
    const gate = bootstrapGate("v2", bootstrapObservation([testPipeline()], [run]), "building");
    expect(gate).toMatchObject({ state: "Failed", reason: "BootstrapFailed" });
    expect(gate.message).toBe(
      `BootstrapRun ${run.metadata.name} failed: Job has reached the specified backoff limit; progress 40% (4 records, 4 texts embedded, 0 deduplicated, 0 failed)`,
    );
  });

  // run-status.ts says a failure without words as "bootstrap failed; progress …".
  it("quotes a failure without words as the run says it, with no empty quote", () => {
    const run = testRun((object) => {
      setPath(object, "status.phase", "Failed");
      setPath(
        object,
        "status.conditions",
        failedConditions("JobFailed", "bootstrap failed; progress 40% (4 records, 4 texts embedded)"),
      );
    });
    expect(bootstrapGate("v2", bootstrapObservation([testPipeline()], [run]), "building").message).toBe(
      `BootstrapRun ${run.metadata.name} failed: progress 40% (4 records, 4 texts embedded)`,
    );
  });

  // Of several pipelines' runs, the one that failed is named, not all of them.
  it("names the run that failed among several", () => {
    const pipelines = ["jobs", "members"].map((name) =>
      testPipeline("nearline-pipeline-jobs.yaml", (object) => setPath(object, "metadata.name", name)),
    );
    const runOf = (pipeline: string, phase: string) =>
      testRun((object) => {
        setPath(object, "metadata.name", `${pipeline}-v2-promotion`);
        setPath(object, "spec.pipelineRef.name", pipeline);
        setPath(object, "status.phase", phase);
        if (phase === "Failed")
          setPath(
            object,
            "status.conditions",
            failedConditions("JobFailed", "bootstrap failed: shard 0 failed"),
          );
      });
    const observation = bootstrapObservation(pipelines, [
      runOf("jobs", "Running"),
      runOf("members", "Failed"),
    ]);
    expect(bootstrapGate("v2", observation, "building").message).toBe(
      "BootstrapRun members-v2-promotion failed: shard 0 failed",
    );
  });

  it("keeps a message of another shape whole", () => {
    const run = testRun((object) => {
      setPath(object, "status.phase", "Failed");
      setPath(object, "status.conditions", failedConditions("JobFailed", "shard 0 failed"));
    });
    expect(bootstrapGate("v2", bootstrapObservation([testPipeline()], [run]), "building").message).toBe(
      `BootstrapRun ${run.metadata.name} failed: shard 0 failed`,
    );
  });
});

// Was "BootstrapRun jobs-v2-promotion is Pending (0%)" alone while the promotion's run waited for its
// pipeline's changelog topic, deleted after the model made the run: the model stops looking at the
// topic of a pipeline that has its run, so nothing on the model said what to create.
describe("BootstrapComplete with a run waiting for its changelog topic", () => {
  it("says why the run waits", () => {
    const message =
      "NearlinePipeline jobs: spec.source.kafka.topic names topic jobs.changelog, which does not exist on Kafka at kafka-0:9092: " +
      "JUDE never creates topics; create it, and the output and dead-letter topics the pipeline names (the operator looks again every 15 s)";
    const waiting = testRun((object) => {
      setPath(object, "metadata.name", "jobs-v2-promotion");
      setPath(object, "status.phase", "Pending");
      setPath(object, "status.conditions", runConditions("Reconciling", "TopicNotFound", message));
    });
    const observation = bootstrapObservation([testPipeline()], [waiting]);
    expect(bootstrapGate("v2", observation, "building").message).toBe(
      `BootstrapRun jobs-v2-promotion is Pending (0%): ${message}`,
    );
  });
});

import { describe, expect, it } from "vitest";
import { bootstrapOfV2, jobsPipeline, promotingModel } from "./fixtures.test-data.ts";
import { statusDocument, statusView, unattachedBootstrapRuns, unattachedPipelines } from "./status-view.ts";
import { progressBar, renderStatus } from "./status-text.ts";

const objects = () => ({
  models: [promotingModel()],
  pipelines: [jobsPipeline()],
  bootstrapRuns: [bootstrapOfV2()],
});

/** The jobs pipeline, its first version having lost `sourceRecordsLost` records, replayed `storeReplays`. */
function withLosses(
  sourceRecordsLost: number,
  storeReplays: { replays: number; replayedOffsets: number; lost: number },
) {
  const lossy = jobsPipeline();
  lossy.status!.versions![0] = { ...lossy.status!.versions![0]!, sourceRecordsLost, storeReplays };
  return lossy;
}

describe("kubectl jude status", () => {
  it("collects versions, gates with their values, pipelines and bootstraps of a model", () => {
    const [view] = statusView(objects());
    expect(view).toMatchObject({
      name: "minilm",
      desiredVersion: "minilm-v2",
      activeVersion: "minilm-v1",
      cutover: "Manual",
      promoting: true,
    });
    expect(view!.gates.map((gate) => [gate.type, gate.status])).toEqual([
      ["ServingReady", "True"],
      ["BootstrapComplete", "True"],
      ["CaughtUp", "True"],
      ["CoverageMet", "False"],
      ["ParityPassed", "Unknown"],
    ]);
    expect(view!.pipelines[0]!.versions).toHaveLength(2);
    expect(view!.bootstraps).toEqual([
      {
        name: "jobs-minilm-v2",
        pipeline: "jobs",
        version: "minilm-v2",
        phase: "Running",
        percent: 42,
        processed: 5040,
        total: 12000,
      },
    ]);
  });

  it("keeps the JSON fields the README documents for status -o json", () => {
    const [view] = JSON.parse(JSON.stringify(statusView(objects()))) as Array<Record<string, unknown>>;
    expect(Object.keys(view!).sort()).toEqual(
      [
        "namespace",
        "name",
        "desiredVersion",
        "activeVersion",
        "cutover",
        "ready",
        "stalled",
        "message",
        "promoting",
        "versions",
        "gates",
        "pipelines",
        "bootstraps",
      ].sort(),
    );
    expect(Object.keys((view!.gates as object[])[0]!).sort()).toEqual([
      "message",
      "reason",
      "status",
      "type",
    ]);
    expect(Object.keys((view!.pipelines as object[])[0]!).sort()).toEqual([
      "entity",
      "name",
      "ready",
      "versions",
    ]);
  });

  it("keeps other models' pipelines out and filters by model name", () => {
    const other = { ...jobsPipeline(), spec: { ...jobsPipeline().spec, modelRef: { name: "other" } } };
    const [view] = statusView({ ...objects(), pipelines: [other] });
    expect(view!.pipelines).toEqual([]);
    expect(view!.bootstraps).toEqual([]);
    expect(statusView(objects(), "absent")).toEqual([]);
  });

  it("renders the gate values, a progress bar and the pipeline figures as text", () => {
    const text = renderStatus(statusView(objects()));
    expect(text).toContain("promotion minilm-v1 -> minilm-v2, gates:");
    expect(text).toMatch(/… CoverageMet\s+coverage 0\.95 < 0\.99/);
    expect(text).toContain(progressBar(42, 21));
    expect(text).toMatch(/jobs\s+job\s+minilm-v1\s+0\s+9000\s+3000\s+2/);
    expect(text).toContain("5040/12000");
  });

  it("names the command that approves a Manual cutover whose gates all passed, and only then", () => {
    const awaiting = promotingModel();
    awaiting.status!.versions = awaiting.status!.versions!.map((version) =>
      version.version === "minilm-v2" ? { ...version, phase: "AwaitingCutover" } : version,
    );
    const text = renderStatus(statusView({ ...objects(), models: [awaiting] }));
    expect(text).toContain("  approve the cutover: kubectl jude approve minilm minilm-v2 -n recs\n");
    expect(renderStatus(statusView(objects()))).not.toContain("kubectl jude approve");
  });

  it("names the way to approve again when approvedVersion already names the version waiting for cutover", () => {
    // The operator counts an approval only for the build it was given for (Ready reason
    // ApprovalPredatesBuild): the command the hint named refuses ("approved, but ... earlier build").
    const stale = promotingModel();
    stale.spec.promotion = { ...stale.spec.promotion, cutover: "Manual", approvedVersion: "minilm-v2" };
    stale.status!.versions = stale.status!.versions!.map((version) =>
      version.version === "minilm-v2" ? { ...version, phase: "AwaitingCutover" } : version,
    );
    const text = renderStatus(statusView({ ...objects(), models: [stale] }));
    expect(text).not.toContain("approve the cutover:");
    expect(text).toContain(
      "  approved for an earlier build of minilm-v2: remove spec.promotion.approvedVersion, wait until status.approval is gone, then: kubectl jude approve minilm minilm-v2 -n recs\n",
    );
  });

  it("fits the bootstrap rows in 80 columns by narrowing the bar (down to 10 marks)", () => {
    const text = renderStatus(statusView(objects()));
    for (const line of text.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(text).toMatch(/jobs-minilm-v2 {2}minilm-v2 {2}Running {2}\[#+-+\] {2}42% {2}5040\/12000/);
    const long = bootstrapOfV2();
    long.metadata = { ...long.metadata, name: "member-profiles-minilm-l6-v2-2026-12-01-backfill" };
    const wide = renderStatus(statusView({ ...objects(), bootstrapRuns: [long] }));
    expect(wide).toContain(`Running  ${progressBar(42, 10)}  5040/12000`);
    expect(progressBar(50, 10)).toBe(`[${"#".repeat(5)}${"-".repeat(5)}]  50%`);
  });

  it("draws progress bars proportionally and clamps them", () => {
    expect(progressBar(0)).toBe(`[${"-".repeat(24)}]   0%`);
    expect(progressBar(50)).toBe(`[${"#".repeat(12)}${"-".repeat(12)}]  50%`);
    expect(progressBar(140)).toBe(`[${"#".repeat(24)}] 100%`);
    expect(progressBar(undefined)).toContain("?");
  });

  it("says so when there is nothing to show, and where it looked", () => {
    expect(renderStatus([])).toBe("No EmbeddingModels found.\n");
    expect(renderStatus([], "in namespace default")).toBe("No EmbeddingModels found in namespace default.\n");
  });

  it("says why a pipeline is not ready, where its figures would be", () => {
    // A stalled pipeline runs no workers, so its row has no figures: the message is all the user gets.
    const stalledMessage =
      "spec.extract: the prompt of entity job in EmbeddingModel minilm uses {{title}}, which spec.extract does not define";
    const [reason, lastTransitionTime] = ["PromptFieldNotExtracted", "2026-12-02T14:52:00Z"];
    const stalled = jobsPipeline();
    stalled.metadata.name = "jobs-broken";
    stalled.status = {
      conditions: [
        { type: "Ready", status: "False", reason, message: stalledMessage, lastTransitionTime },
        { type: "Stalled", status: "True", reason, message: stalledMessage, lastTransitionTime },
      ],
    };
    const [view] = statusView({ ...objects(), pipelines: [jobsPipeline(), stalled] });
    expect(view!.pipelines.map((pipeline) => pipeline.message)).toEqual([undefined, stalledMessage]);
    const text = renderStatus([view!]);
    expect(text).toMatch(/jobs-broken\s+job\s+-\s+-/);
    expect(text).toContain(`    jobs-broken not ready: ${stalledMessage}\n`);
    expect(text).not.toMatch(/^\s+jobs not ready/m);
  });

  it("says when a version's workers lost source records or replayed after the store lost writes", () => {
    const lossy = withLosses(8, { replays: 2, replayedOffsets: 40, lost: 3 });
    const [view] = statusView({ ...objects(), pipelines: [lossy] });
    expect(view!.pipelines[0]!.versions[0]).toMatchObject({
      sourceRecordsLost: 8,
      storeReplays: { replays: 2, replayedOffsets: 40, lost: 3 },
    });
    const text = renderStatus([view!]);
    expect(text).toContain(
      "    jobs minilm-v1: 8 source records lost to retention (never embedded); the store lost acknowledged writes: 2 replays read 40 offsets again\n",
    );
    expect(renderStatus(statusView(objects()))).not.toContain("lost");
  });

  it("says one lost source record and one replay in the singular", () => {
    const lossy = withLosses(1, { replays: 1, replayedOffsets: 1, lost: 0 });
    expect(renderStatus(statusView({ ...objects(), pipelines: [lossy] }))).toContain(
      "    jobs minilm-v1: 1 source record lost to retention (never embedded); the store lost acknowledged writes: 1 replay read 1 offset again\n",
    );
  });

  it("says when the operator has not reported on a model at all, instead of showing it as waiting", () => {
    // As applied from examples/ with no operator running (or one not watching the namespace): no
    // status. It read "ready: Unknown" with every gate "…", as a promotion in progress reads.
    const message =
      "no status yet: the operator has not reconciled it (is it running, and does it watch namespace recs?)";
    // Without a status, and with the one the API server defaults (the CRD's observedGeneration: 0).
    for (const status of [undefined, { observedGeneration: 0 }]) {
      const fresh = promotingModel();
      if (status === undefined) delete fresh.status;
      else fresh.status = status;
      const [view] = statusView({ ...objects(), models: [fresh] });
      expect(view).toMatchObject({ ready: "Unknown", stalled: false, message });
      expect(renderStatus([view!])).toContain(`\n  ${message}\n`);
    }
    // Once the operator wrote any status, its own conditions speak.
    const [reconciled] = statusView(objects());
    expect(reconciled!.message).not.toMatch(/no status yet/);
  });

  it("prints condition messages as one line each, their terminal control characters made visible", () => {
    // Condition messages are free text (anyone who may write a status, or a component's error, sets
    // them): they were printed raw, so an escape sequence reached the terminal and a newline forged a
    // line of its own ("EmbeddingModel recs/fake"). kubectl escapes them too (^[ for ESC).
    const model = promotingModel();
    model.status!.conditions![0]!.message =
      "ok\u001b[31mred\u001b[0m\r\nEmbeddingModel recs/fake\u0007\u009b";
    const pipeline = jobsPipeline();
    pipeline.status = {
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: "R",
          message: "a\nb\tc",
          lastTransitionTime: "2026-12-02T14:52:00Z",
        },
      ],
    };
    const all = { ...objects(), models: [model], pipelines: [pipeline] };
    const text = renderStatus(statusView(all));
    expect(text).toContain("  ok^[[31mred^[[0m\\r\\nEmbeddingModel recs/fake\\a\\u009b\n");
    expect(text).toContain("    jobs not ready: a\\nb\\tc\n");
    expect(text).not.toMatch(/^EmbeddingModel recs\/fake/m);
    // eslint-disable-next-line no-control-regex -- no control character but the line ends
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const orphans = renderStatus([], "in namespace recs", unattachedPipelines({ ...all, models: [] }));
    expect(orphans).toContain("not ready: a\\nb\\tc\n");
  });

  it("shows bidirectional overrides visibly and keeps other Unicode text intact", () => {
    // Was: U+202E (right-to-left override) reached the terminal, which showed the rest of the line
    // reversed ("Trojan Source"): "v1 \u202e2v" reads as "v1 v2". Letters of any script, emoji and
    // combining marks are text, printed as they are.
    const model = promotingModel();
    model.status!.conditions![0]!.message =
      "rollback to v1 \u202e2v\u202c \u2066x\u2069 — 模型 🚀 e\u0301 שלום مرحبا";
    const text = renderStatus(statusView({ ...objects(), models: [model] }));
    expect(text).toContain(
      "  rollback to v1 \\u202e2v\\u202c \\u2066x\\u2069 — 模型 🚀 e\u0301 שלום مرحبا\n",
    );
    expect(text).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  });

  it("lists the pipelines that name no existing model, with why they are not ready", () => {
    // A typo in spec.modelRef.name: the pipeline is Stalled, but under no model's block.
    const message = "spec.modelRef.name: EmbeddingModel minlm does not exist in namespace recs";
    const [reason, lastTransitionTime] = ["ModelNotFound", "2026-12-02T14:52:00Z"];
    const orphan = jobsPipeline();
    orphan.metadata.name = "jobs-typo";
    orphan.spec.modelRef.name = "minlm";
    orphan.status = {
      conditions: [
        { type: "Ready", status: "False", reason, message, lastTransitionTime },
        { type: "Stalled", status: "True", reason, message, lastTransitionTime },
      ],
    };
    const all = { ...objects(), pipelines: [jobsPipeline(), orphan] };
    const unattached = unattachedPipelines(all);
    expect(unattached.map((pipeline) => pipeline.name)).toEqual(["jobs-typo"]);
    const line = `  ${orphan.metadata.namespace ?? "default"}/jobs-typo (model minlm) not ready: ${message}\n`;
    expect(renderStatus(statusView(all), "in namespace recs", unattached)).toContain(line);
    const alone = renderStatus([], "in namespace recs", unattachedPipelines({ ...all, models: [] }));
    expect(alone).toMatch(/^No EmbeddingModels found in namespace recs\.\n/);
    expect(alone).toContain("/jobs (model ");
    expect(alone).toContain(line);
  });

  it("carries in status -o json what the text shows: pipelines naming no model, and every condition", () => {
    // `-o json` was the array of models alone: the pipelines the text lists after them (a typo in
    // spec.modelRef.name) were missing, and so were the conditions' reasons (StoreDataLost,
    // ProgressDeadlineExceeded...) a script needs to tell one not-ready from another.
    const orphan = jobsPipeline();
    orphan.metadata.name = "jobs-typo";
    orphan.spec.modelRef.name = "minlm";
    const all = { ...objects(), pipelines: [jobsPipeline(), orphan] };
    const document = JSON.parse(JSON.stringify(statusDocument(all))) as {
      models: Array<Record<string, unknown> & { pipelines: Array<Record<string, unknown>> }>;
      unattachedPipelines: Array<Record<string, unknown>>;
    };
    expect(Object.keys(document)).toEqual(["models", "unattachedPipelines", "unattachedBootstrapRuns"]);
    const [model] = document.models;
    // The text's view, each object with its conditions added.
    const withoutConditions = ({ conditions: _, ...rest }: Record<string, unknown>) => rest;
    const { conditions: modelConditions, ...modelView } = model!;
    expect({
      ...modelView,
      pipelines: model!.pipelines.map(withoutConditions),
      bootstraps: (model!.bootstraps as Array<Record<string, unknown>>).map(withoutConditions),
    }).toEqual(JSON.parse(JSON.stringify(statusView(all)[0])));
    expect(modelConditions).toEqual(promotingModel().status!.conditions);
    expect(model!.pipelines.map((pipeline) => pipeline.conditions)).toEqual([
      jobsPipeline().status!.conditions,
    ]);
    expect((model!.bootstraps as Array<Record<string, unknown>>)[0]!.conditions).toEqual(
      bootstrapOfV2().status?.conditions ?? [],
    );
    expect(document.unattachedPipelines).toEqual([
      {
        ...JSON.parse(JSON.stringify(unattachedPipelines(all)[0])),
        conditions: orphan.status?.conditions ?? [],
      },
    ]);
    // Asked for one model, as the text: that model only.
    expect(statusDocument(all, "minilm").unattachedPipelines).toEqual([]);
    expect(statusDocument({ ...all, models: [] }, "minilm")).toEqual({
      models: [],
      unattachedPipelines: [],
      unattachedBootstrapRuns: [],
    });
  });

  it("lists the bootstrap runs no model's block shows, with why they do not run", () => {
    // A typo in spec.pipelineRef.name: the operator stalls the run, but `status` showed it nowhere (a
    // run is listed under the model of its pipeline, and it has none), in text and JSON alike.
    const message = "spec.pipelineRef.name: NearlinePipeline jbos does not exist in namespace recs";
    const [reason, lastTransitionTime] = ["PipelineNotFound", "2026-12-02T14:52:00Z"];
    const typo = bootstrapOfV2();
    typo.metadata.name = "typo-run";
    typo.spec.pipelineRef.name = "jbos";
    typo.status = {
      phase: "Pending",
      conditions: [
        { type: "Ready", status: "False", reason, message, lastTransitionTime },
        { type: "Stalled", status: "True", reason, message, lastTransitionTime },
      ],
    };
    // And a run of a pipeline that names no model: listed with that pipeline's run too.
    const orphanPipeline = jobsPipeline();
    orphanPipeline.metadata.name = "jobs-typo";
    orphanPipeline.spec.modelRef.name = "minlm";
    const orphanRun = bootstrapOfV2();
    orphanRun.metadata.name = "jobs-typo-run";
    orphanRun.spec.pipelineRef.name = "jobs-typo";
    const all = {
      ...objects(),
      pipelines: [jobsPipeline(), orphanPipeline],
      bootstrapRuns: [bootstrapOfV2(), typo, orphanRun],
    };
    const runs = unattachedBootstrapRuns(all);
    expect(runs.map((run) => [run.name, run.pipeline])).toEqual([
      ["typo-run", "jbos"],
      ["jobs-typo-run", "jobs-typo"],
    ]);
    const namespace = typo.metadata.namespace ?? "default";
    const text = renderStatus(statusView(all), "in namespace recs", unattachedPipelines(all), runs);
    expect(text).toContain(
      "\nBootstrapRuns under no EmbeddingModel (their NearlinePipeline does not exist or names none):\n",
    );
    expect(text).toContain(`  ${namespace}/typo-run (pipeline jbos) Pending: ${message}\n`);
    expect(text).toContain(`  ${namespace}/jobs-typo-run (pipeline jobs-typo) Running\n`);
    // Alone in a namespace, after "No EmbeddingModels found".
    const alone = renderStatus(
      [],
      "in namespace recs",
      [],
      unattachedBootstrapRuns({ ...all, models: [], pipelines: [] }),
    );
    expect(alone).toMatch(/^No EmbeddingModels found in namespace recs\.\n\nBootstrapRuns under no/);
    const document = statusDocument(all);
    expect(document.unattachedBootstrapRuns.map((run) => [run.namespace, run.name, run.conditions])).toEqual([
      [namespace, "typo-run", typo.status.conditions],
      [namespace, "jobs-typo-run", orphanRun.status?.conditions ?? []],
    ]);
    expect(statusDocument(all, "minilm").unattachedBootstrapRuns).toEqual([]);
  });

  it("says why a bootstrap run does not progress, under its bar, and not while it just runs", () => {
    // The run's status is all that says its pods are refused: the Job only records Events.
    const refusedMessage =
      '0% (0 records, 0 texts embedded, 0 deduplicated, 0 failed); the API server refuses to create its pods: pods "jobs-minilm-v2-0" is forbidden: exceeded quota: compute';
    const condition = (type: string, status: "True" | "False", reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastTransitionTime: "2026-12-02T14:52:00Z",
    });
    const refused = bootstrapOfV2();
    refused.status = {
      ...refused.status!,
      conditions: [
        condition("Ready", "False", "FailedCreate", refusedMessage),
        condition("Stalled", "False", "NotStalled", "not stalled"),
      ],
    };
    const failed = bootstrapOfV2();
    failed.metadata.name = "jobs-minilm-v2-b";
    failed.status = {
      phase: "Failed",
      conditions: [
        condition("Ready", "False", "BackoffLimitExceeded", "bootstrap failed: backoff limit"),
        condition("Stalled", "True", "BackoffLimitExceeded", "bootstrap failed: backoff limit"),
      ],
    };
    const running = bootstrapOfV2();
    running.metadata.name = "jobs-minilm-v2-c";
    running.status = {
      ...running.status!,
      conditions: [condition("Ready", "False", "Running", "42% (5040/12000 records)")],
    };
    const [view] = statusView({ ...objects(), bootstrapRuns: [refused, failed, running] });
    expect(view!.bootstraps.map((run) => run.message)).toEqual([
      refusedMessage,
      "bootstrap failed: backoff limit",
      undefined,
    ]);
    const text = renderStatus([view!]);
    expect(text).toContain(`    jobs-minilm-v2: ${refusedMessage}\n`);
    expect(text).toContain("    jobs-minilm-v2-b: bootstrap failed: backoff limit\n");
    expect(text).not.toContain("jobs-minilm-v2-c:");
  });

  it("shows the gates of the first version too, before any version is active", () => {
    const first = promotingModel();
    first.spec.version = "minilm-v1";
    first.status = {
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: "Promoting",
          message: "promoting minilm-v1: BootstrapComplete: BootstrapRun jobs-minilm-v1 is Running (42%)",
          lastTransitionTime: "2026-12-01T10:00:00Z",
        },
        {
          type: "BootstrapComplete",
          status: "False",
          reason: "Bootstrapping",
          message: "BootstrapRun jobs-minilm-v1 is Running (42%)",
          lastTransitionTime: "2026-12-01T10:00:00Z",
        },
      ],
      versions: [{ version: "minilm-v1", phase: "Bootstrapping" }],
    };
    const [view] = statusView({ ...objects(), models: [first] });
    expect(view!.promoting).toBe(true);
    const text = renderStatus([view!]);
    expect(text).toContain("active: (none yet)");
    expect(text).toContain("  first version minilm-v1, gates:\n");
    expect(text).toMatch(/… BootstrapComplete\s+BootstrapRun jobs-minilm-v1 is Running \(42%\)/);
    // Once it is active, there is no promotion to show.
    first.status.activeVersion = "minilm-v1";
    expect(renderStatus(statusView({ ...objects(), models: [first] }))).not.toContain("gates:");
  });

  it("says a model is Stalled (someone must act), not just not ready", () => {
    const stalledMessage = "spec.model.uri: scheme ftp is not supported (use pvc://, hf:// or https://)";
    const stalled = promotingModel();
    const at = "2026-12-01T10:00:00Z";
    stalled.status!.conditions = [
      {
        type: "Ready",
        status: "False",
        reason: "InvalidSpec",
        message: stalledMessage,
        lastTransitionTime: at,
      },
      {
        type: "Reconciling",
        status: "False",
        reason: "InvalidSpec",
        message: stalledMessage,
        lastTransitionTime: at,
      },
      {
        type: "Stalled",
        status: "True",
        reason: "InvalidSpec",
        message: stalledMessage,
        lastTransitionTime: at,
      },
    ];
    const [view] = statusView({ ...objects(), models: [stalled] });
    expect(view).toMatchObject({ ready: "False", stalled: true, message: stalledMessage });
    expect(renderStatus([view!])).toContain(`\n  Stalled: ${stalledMessage}\n`);
    const [healthy] = statusView(objects());
    expect(healthy!.stalled).toBe(false);
    expect(renderStatus([healthy!])).toContain("\n  minilm-v1 is active\n");
  });
});

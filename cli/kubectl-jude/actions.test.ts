import { describe, expect, it } from "vitest";
import { abandonApplied, approve, rollback } from "./actions.ts";
import { promotingModel } from "./fixtures.test-data.ts";
import { parseEmbeddingModel } from "../../crds/index.ts";

/** What the operator recorded of minilm-v0: another model file, without a checksum, other prompts. */
const v0Record = {
  version: "minilm-v0",
  promotionStartTime: "2026-10-31T00:00:00Z",
  spec: {
    model: {
      uri: "file:///models/minilm-v0.onnx",
      dimensions: 384,
      pooling: "mean" as const,
      normalize: true,
      maxSequenceLength: 256,
      precision: "fp32" as const,
    },
    prompts: { job: "Job: {{title}}" },
    serving: promotingModel().spec.serving,
  },
};

describe("approve", () => {
  it("approves the version being promoted", () => {
    expect(approve(promotingModel())).toEqual({
      patch: { promotion: { approvedVersion: "minilm-v2" } },
      summary: "approved cutover of minilm to minilm-v2",
      next: "the operator switches readers to minilm-v2 once every promotion gate passes (3 of 5 pass now); follow it with: kubectl jude status minilm -n recs",
    });
  });

  // An EmbeddingModel deleted and applied again mid-promotion: the version readers use has no record
  // (the operator lists no phase for it, and Ready says so). Approving drops the only way back to it.
  it("warns that the version readers use has no record, so approving ends every rollback to it", () => {
    const model = promotingModel();
    model.status!.versions = model.status!.versions!.filter((entry) => entry.version === "minilm-v2");
    expect(approve(model)).toMatchObject({
      patch: { promotion: { approvedVersion: "minilm-v2" } },
      warning:
        "minilm-v1, the version readers use, has no record in minilm (the model was deleted and applied again): once minilm-v2 is promoted, minilm cannot roll back to minilm-v1",
    });
    expect(approve(promotingModel())).not.toHaveProperty("warning");
  });

  // The operator refuses an approval given for an earlier build of the same name (README "An approval
  // counts only for the build it was given for"): "already approved" would hide why nothing happens.
  it("says how to approve again when the approval was given for an earlier build of the version", () => {
    const model = promotingModel();
    model.spec.promotion = { ...model.spec.promotion, approvedVersion: "minilm-v2" };
    model.status!.conditions = model.status!.conditions!.map((condition) =>
      condition.type === "Ready"
        ? { ...condition, status: "False", reason: "ApprovalPredatesBuild" }
        : condition,
    );
    expect(approve(model)).toEqual({
      refused: `minilm-v2 is approved, but the approval was given for an earlier build of minilm-v2 (Ready reason ApprovalPredatesBuild): remove spec.promotion.approvedVersion of minilm (kubectl patch embeddingmodel minilm -n recs --type=json -p '[{"op":"remove","path":"/spec/promotion/approvedVersion"}]', or in Git), wait until its status.approval is gone, then approve again`,
    });
  });

  it.each([
    [
      "another version",
      (model = promotingModel()) => approve(model, "minilm-v9"),
      /not the version being promoted/,
    ],
    [
      "an Automatic cutover",
      (model = promotingModel()) =>
        approve({
          ...model,
          spec: { ...model.spec, promotion: { ...model.spec.promotion, cutover: "Automatic" } },
        }),
      /cutover Automatic/,
    ],
    [
      "an already active version",
      (model = promotingModel()) =>
        approve({ ...model, status: { ...model.status, activeVersion: "minilm-v2" } }),
      /already the active version/,
    ],
  ])("refuses %s", (_case, decide, message) => {
    const decision = decide();
    expect("refused" in decision && decision.refused).toMatch(message);
  });
});

/** The fixture model once its spec is back on the active minilm-v1: no promotion in flight. */
function settledModel() {
  const model = promotingModel();
  model.spec.version = "minilm-v1";
  return model;
}

/** What the operator recorded of the active minilm-v1: its own model file, prompts and image. */
const v1Record = {
  version: "minilm-v1",
  promotionStartTime: "2026-11-30T00:00:00Z",
  spec: {
    model: { ...v0Record.spec.model, uri: "file:///models/minilm-v1.onnx" },
    prompts: { job: "Job v1: {{title}}" },
    serving: { ...promotingModel().spec.serving, image: "registry.example/jude:1.0" },
  },
};

describe("rollback", () => {
  it("goes back to the most recently active retained version with its recorded model and prompts", () => {
    const model = settledModel();
    const decision = rollback(model, undefined, [v0Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.summary).toBe("rolling minilm back to minilm-v0 (was minilm-v1)");
    // minilm-v0 is Retained: its pods and workers are gone, so readers move once they are back.
    expect(decision.next).toBe(
      "the operator starts minilm-v0's serving pods and any nearline workers again and switches readers back to its retained vectors once they are ready and caught up; follow it with: kubectl jude status minilm -n recs",
    );
    expect(decision.patch.version).toBe("minilm-v0");
    // Applied as a JSON merge patch, the spec becomes exactly v0's model and prompts and still parses.
    const patched = mergePatch(structuredClone(model.spec), decision.patch) as typeof model.spec;
    expect(patched.model).toEqual(v0Record.spec.model);
    expect(patched.prompts).toEqual(v0Record.spec.prompts);
    expect(() => parseEmbeddingModel({ ...model, spec: patched, status: undefined })).not.toThrow();
  });

  // v0 ran its own image and memory (its model needs more than v1's); rolled back with v1's, its pods
  // would roll, as readers return to them, into a limit too small for its model. Capacity is the
  // spec's now (the operator sizes every served version from it).
  it("restores the version's own serving settings and keeps the spec's capacity", () => {
    const model = settledModel();
    model.spec.serving = {
      ...model.spec.serving,
      image: "registry.example/jude:1.1",
      resources: { limits: { memory: "2Gi" } },
      replicas: 7,
    };
    delete model.spec.serving.autoscaling;
    const record = {
      ...v0Record,
      spec: {
        ...v0Record.spec,
        serving: {
          ...v0Record.spec.serving,
          image: "registry.example/jude:1.0",
          resources: { requests: { cpu: "1" } },
          autoscaling: { minReplicas: 1, maxReplicas: 2, scaleDownStabilizationSeconds: 300 },
        },
      },
    };
    delete record.spec.serving.replicas;
    const decision = rollback(model, undefined, [record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    const patched = mergePatch(structuredClone(model.spec), decision.patch) as typeof model.spec;
    expect(patched.serving.image).toBe("registry.example/jude:1.0");
    expect(patched.serving.resources).toEqual({ requests: { cpu: "1" } });
    expect(patched.serving.replicas).toBe(7);
    expect(patched.serving.autoscaling).toBeUndefined();
    expect(() => parseEmbeddingModel({ ...model, spec: patched, status: undefined })).not.toThrow();
  });

  it("says a Draining version, still served, gets readers back at once", () => {
    const model = settledModel();
    const versions = model.status!.versions!.map((entry) =>
      entry.version === "minilm-v0" ? { ...entry, phase: "Draining" as const } : entry,
    );
    const decision = rollback({ ...model, status: { ...model.status, versions } }, undefined, [v0Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.next).toBe(
      "the operator switches readers back to minilm-v0's retained vectors at once; follow it with: kubectl jude status minilm -n recs",
    );
  });

  it("refuses when the operator kept no record of the version's model and prompts", () => {
    const decision = rollback(settledModel());
    expect("refused" in decision && decision.refused).toMatch(/no record of minilm-v0's model and prompts/);
  });

  it("refuses a version that is not retained", () => {
    const decision = rollback(promotingModel(), "minilm-v7");
    expect("refused" in decision && decision.refused).toMatch(
      /minilm-v7 is not a retained version of minilm \(kept: minilm-v0\)/,
    );
  });

  it("refuses when nothing is retained and nothing is being promoted", () => {
    const model = settledModel();
    const decision = rollback({ ...model, status: { ...model.status, versions: [] } });
    expect(decision).toEqual({
      refused:
        "minilm has no retained version to roll back to, and no promotion to abandon (minilm-v1 is active and spec.version)",
    });
    expect(rollback(settledModel(), "minilm-v1", [v1Record])).toEqual({
      refused: "minilm-v1 is already active and spec.version: no promotion to abandon",
    });
  });

  it("refuses before any version is active: nothing to go back to", () => {
    const model = promotingModel();
    const decision = rollback({ ...model, status: { versions: [] } }, undefined, [v1Record]);
    expect(decision).toEqual({
      refused:
        "minilm has no active version yet (minilm-v2 is its first): nothing to roll back to or to abandon",
    });
  });
});

describe("rollback while a promotion is in flight", () => {
  // minilm-v2 is being promoted with its own model, prompts and image; minilm-v1 serves readers.
  it.each([
    ["by default", undefined],
    ["to the active version", "minilm-v1"],
  ])("abandons the candidate %s: the spec back to the active version's record", (_case, requested) => {
    const model = promotingModel();
    model.spec.serving = { ...model.spec.serving, image: "registry.example/jude:2.0" };
    const decision = rollback(model, requested, [v0Record, v1Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.abandons).toBe("minilm-v2");
    expect(decision.summary).toBe(
      "abandoning the promotion of minilm to minilm-v2: spec.version back to the active minilm-v1, with its recorded model, prompts and serving settings",
    );
    expect(decision.next).toBe(
      "minilm-v1 keeps serving readers, its pods unchanged; the operator removes minilm-v2's serving pods, nearline workers, BootstrapRun and partial vectors; follow it with: kubectl jude status minilm -n recs",
    );
    const patched = mergePatch(structuredClone(model.spec), decision.patch) as typeof model.spec;
    expect(patched.version).toBe("minilm-v1");
    expect(patched.model).toEqual(v1Record.spec.model);
    expect(patched.prompts).toEqual(v1Record.spec.prompts);
    expect(patched.serving).toEqual(v1Record.spec.serving);
    expect(patched.promotion).toEqual(model.spec.promotion);
  });

  // The candidate's approval is withdrawn with it: promoted again, it waits for a new approval.
  it("clears an approval of the abandoned candidate, keeping other promotion settings", () => {
    const model = promotingModel();
    const policy = model.spec.promotion;
    model.spec.promotion = { ...policy, approvedVersion: "minilm-v2" };
    const decision = rollback(model, undefined, [v0Record, v1Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.next).toContain("; spec.promotion.approvedVersion (minilm-v2) is cleared;");
    const patched = mergePatch(structuredClone(model.spec), decision.patch) as typeof model.spec;
    expect(patched.promotion).toEqual(policy);
    // An approval naming another version is left as it is.
    model.spec.promotion = { ...policy, approvedVersion: "minilm-v9" };
    const other = rollback(model, undefined, [v0Record, v1Record]);
    if (!("patch" in other)) throw new Error(other.refused);
    expect(other.patch.promotion).toBeUndefined();
  });

  // A rollback to a retained version waits for its workers to catch up; abandoned, it stays retained.
  it("says a retained version whose rollback is abandoned keeps its vectors", () => {
    const v2Retained = {
      ...v1Record,
      version: "minilm-v2",
      activatedTime: "2026-11-20T00:00:00Z",
      deactivatedTime: "2026-11-30T00:00:00Z",
    };
    const decision = rollback(promotingModel(), "minilm-v1", [v1Record, v2Retained]);
    expect("next" in decision && decision.next).toBe(
      "minilm-v1 keeps serving readers, its pods unchanged; the operator stops minilm-v2's serving pods and nearline workers again; minilm-v2's vectors stay for a later rollback; follow it with: kubectl jude status minilm -n recs",
    );
    // One whose vectors were collected is rebuilt: abandoned, its partial build goes.
    const collected = rollback(promotingModel(), undefined, [v1Record, { ...v2Retained, collected: true }]);
    expect("next" in collected && collected.next).toMatch(/removes minilm-v2's .* partial vectors/);
  });

  // `kubectl jude rollback minilm` run again while the first one waits for the retained version's
  // workers (minutes): the same words must not undo it and put readers' spec back on the version
  // being rolled back from. Abandoning a rollback is asked for by naming the active version.
  it("refuses, rather than abandons, a rollback in flight asked for again without a version", () => {
    const v2Retained = { ...v1Record, version: "minilm-v2", activatedTime: "2026-11-20T00:00:00Z" };
    expect(rollback(promotingModel(), undefined, [v1Record, v2Retained])).toEqual({
      refused:
        "minilm is already rolling back to minilm-v2 (minilm-v1 serves readers until minilm-v2 is ready and caught up); to abandon that rollback and stay on minilm-v1, run it with --to minilm-v1",
      rollbackInFlight: true,
    });
  });

  // With no record of the active version, `--to` it refuses too (missingRecord): the refusal of the
  // plain rollback must not send the user to a command that cannot work, but say how to do it by hand.
  it("refuses a rollback in flight again without naming a --to that the missing record refuses", () => {
    const v2Retained = { ...v1Record, version: "minilm-v2", activatedTime: "2026-11-20T00:00:00Z" };
    expect("missingRecord" in rollback(promotingModel(), "minilm-v1", [v2Retained])).toBe(true);
    const again = rollback(promotingModel(), undefined, [v2Retained]);
    expect("refused" in again && again.refused).toMatch(/^minilm is already rolling back to minilm-v2 /);
    expect("refused" in again && again.refused).not.toMatch(/--to minilm-v1/);
    expect("refused" in again && again.refused).toMatch(/no record of minilm-v1's model.*set spec.version/);
  });

  it("refuses --to the candidate, saying how to abandon it", () => {
    expect(rollback(promotingModel(), "minilm-v2", [v1Record])).toEqual({
      refused:
        "minilm-v2 is the version being promoted, not one to roll back to; to abandon its promotion, roll back without --to (or --to minilm-v1)",
    });
  });

  // During a rollback in flight a plain `rollback` refuses (above): the way out named is --to active.
  it("refuses --to the version a rollback in flight goes back to, naming the --to that abandons it", () => {
    const v2Retained = { ...v1Record, version: "minilm-v2", activatedTime: "2026-11-20T00:00:00Z" };
    expect(rollback(promotingModel(), "minilm-v2", [v1Record, v2Retained])).toEqual({
      refused:
        "minilm is already rolling back to minilm-v2 (minilm-v1 serves readers until minilm-v2 is ready and caught up); to abandon that rollback and stay on minilm-v1, run it with --to minilm-v1",
      rollbackInFlight: true,
    });
  });

  it("still rolls back further to a retained version named with --to", () => {
    const decision = rollback(promotingModel(), "minilm-v0", [v0Record, v1Record]);
    expect("patch" in decision && decision.patch.version).toBe("minilm-v0");
  });

  it("refuses without the active version's record, naming what to set by hand", () => {
    const decision = rollback(promotingModel(), undefined, [v0Record]);
    expect(decision).toEqual({
      refused:
        "the operator has no record of minilm-v1's model, prompts and serving settings (ConfigMap minilm-minilm-v1-record); to abandon the promotion of minilm-v2, set spec.version, spec.model, spec.prompts and spec.serving of minilm back as they were for minilm-v1 (a Git revert of the commits since)",
      missingRecord: true,
    });
  });

  // A conditional patch sent again after the API server applied it meets its own change (409): the
  // plugin reads the model again and must see the abandon done, not decide a rollback to minilm-v0.
  it("recognises the abandon already applied", () => {
    const decision = rollback(promotingModel(), undefined, [v0Record, v1Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(abandonApplied(promotingModel(), decision)).toBe(false);
    expect(abandonApplied(settledModel(), decision)).toBe(true);
  });

  it("is a normal rollback once the candidate is active", () => {
    const model = promotingModel();
    model.status = {
      ...model.status,
      activeVersion: "minilm-v2",
      versions: [
        { version: "minilm-v0", phase: "Retained", activatedTime: "2026-11-01T00:00:00Z" },
        { version: "minilm-v1", phase: "Draining", activatedTime: "2026-12-01T10:00:00Z" },
        { version: "minilm-v2", phase: "Active", activatedTime: "2026-12-02T10:00:00Z" },
      ],
    };
    const decision = rollback(model, undefined, [v0Record, v1Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.summary).toBe("rolling minilm back to minilm-v1 (was minilm-v2)");
    expect(decision.next).toMatch(/switches readers back to minilm-v1's retained vectors at once/);
  });

  // Was: after an approved cutover to v2, `kubectl jude rollback` set spec.version back to v1 and left
  // approvedVersion v2 (seen on the testbed). The operator's gate compares names only (a Git commit
  // may approve the version it introduces), so once v2 left retention and its record went, a new
  // build under the name v2 cut over with that old approval, no person approving it.
  it("clears the approval spent on the version readers leave", () => {
    const model = promotingModel();
    const policy = model.spec.promotion;
    model.spec.promotion = { ...policy, approvedVersion: "minilm-v2" };
    model.status = {
      ...model.status,
      activeVersion: "minilm-v2",
      versions: [
        { version: "minilm-v1", phase: "Draining", activatedTime: "2026-12-01T10:00:00Z" },
        { version: "minilm-v2", phase: "Active", activatedTime: "2026-12-02T10:00:00Z" },
      ],
    };
    const decision = rollback(model, undefined, [v0Record, v1Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.patch.version).toBe("minilm-v1");
    expect(decision.next).toContain("; spec.promotion.approvedVersion (minilm-v2) is cleared;");
    const patched = mergePatch(structuredClone(model.spec), decision.patch) as typeof model.spec;
    expect(patched.promotion).toEqual(policy);
    // An approval of the rollback's target (given for its own promotion) is left as it is.
    model.spec.promotion = { ...policy, approvedVersion: "minilm-v1" };
    const kept = rollback(model, undefined, [v0Record, v1Record]);
    if (!("patch" in kept)) throw new Error(kept.refused);
    expect(kept.patch.promotion).toBeUndefined();
  });

  // The candidate in flight is superseded by a rollback further back (its record dropped): an approval
  // given to it goes, as when it is abandoned.
  it("clears an approval of the candidate a rollback --to an older version supersedes", () => {
    const model = promotingModel();
    model.spec.promotion = { ...model.spec.promotion, approvedVersion: "minilm-v2" };
    const decision = rollback(model, "minilm-v0", [v0Record, v1Record]);
    if (!("patch" in decision)) throw new Error(decision.refused);
    expect(decision.patch.version).toBe("minilm-v0");
    expect(decision.patch.promotion).toEqual({ approvedVersion: null });
    expect(decision.next).toContain("; spec.promotion.approvedVersion (minilm-v2) is cleared;");
  });
});

/** RFC 7396 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

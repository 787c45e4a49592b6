import { describe, expect, it } from "vitest";
import { approve, rollback } from "./actions.ts";
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

describe("rollback", () => {
  it("goes back to the most recently active retained version with its recorded model and prompts", () => {
    const model = promotingModel();
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
    const model = promotingModel();
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
    const model = promotingModel();
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
    const decision = rollback(promotingModel());
    expect("refused" in decision && decision.refused).toMatch(/no record of minilm-v0's model and prompts/);
  });

  it("refuses a version that is not retained", () => {
    const decision = rollback(promotingModel(), "minilm-v2");
    expect("refused" in decision && decision.refused).toMatch(
      /not a retained version of minilm \(kept: minilm-v0\)/,
    );
  });

  it("refuses when nothing is retained", () => {
    const model = promotingModel();
    const decision = rollback({ ...model, status: { ...model.status, versions: [] } });
    expect(decision).toEqual({ refused: "minilm has no retained version to roll back to" });
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

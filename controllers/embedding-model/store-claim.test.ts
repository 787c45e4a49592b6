import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext, type RecordedCall } from "../nearline-pipeline/fake-context.ts";
import { setPath, stored, testModel, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { stayOffStore } from "./store-claim.ts";

// Kept off its store (another model owns it), a model kept its status as it was, status.approval
// included: removed from the spec meanwhile (as `kubectl jude approve` tells, for an approval given for
// an earlier build), it stayed, and "wait until status.approval is gone" waited as long as the conflict.
describe("stayOffStore", () => {
  const approval = {
    version: "minilm-v2",
    observedTime: "2026-12-01T11:00:00Z",
    build: "2026-11-01T10:00:00Z",
  };
  const owner = { namespace: "other", name: "owner", uid: "owner-uid", claimedAtMs: 0 };
  const statusAfter = async (approvedVersion: string | undefined) => {
    const edit = (object: Record<string, unknown>) => {
      setPath(object, "spec.promotion.cutover", "Manual");
      setPath(object, "spec.promotion.approvedVersion", approvedVersion);
      object.status = { observedGeneration: 1, activeVersion: "minilm-v1", approval };
    };
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { EmbeddingModel: [stored("embedding-model.yaml", "model-uid", edit) as KubeObject] },
    );
    await stayOffStore(
      context,
      testModel(edit),
      { action: "yield", owner, message: "owned by other/owner" },
      "job-recs",
    );
    const [write] = calls.filter((call) => call.verb === "applyStatus") as Extract<
      RecordedCall,
      { verb: "applyStatus" }
    >[];
    expect(write?.status).toMatchObject({
      activeVersion: "minilm-v1",
      storeConflict: { store: "job-recs", owner: { namespace: "other", name: "owner", uid: "owner-uid" } },
    });
    return write?.status;
  };

  it("forgets an approval removed from the spec, as a reconcile that decides does", async () => {
    expect((await statusAfter(undefined))?.approval).toBeUndefined();
  });

  it("keeps one the spec still names", async () => {
    expect((await statusAfter("minilm-v2"))?.approval).toEqual(approval);
  });
});

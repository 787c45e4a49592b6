import { describe, expect, it, vi } from "vitest";
import type { EmbeddingModel } from "../../crds/index.ts";
import type { Store } from "../../store/index.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import { testModel, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { imagesFor } from "../shared/image.ts";
import { actOnPromotion } from "./promotion-act.ts";
import type { PromotionDecision } from "./promotion.ts";

describe("actOnPromotion", () => {
  // A replica stopped (SIGSTOP) after deciding a flip resumes with the decision in hand; meanwhile
  // another replica took the Lease and may have decided otherwise (the spec was set back). The store's
  // compare-and-set (expected current) passes all the same, so the store write itself must be fenced.
  it("does not switch the pointer once this replica no longer holds the leader Lease", async () => {
    const { context } = fakeContext({ namespace: testNamespace, name: "jude-minilm" }, {});
    context.fence = () => {
      throw new Error("lost the leader lease: not renewed within the renew deadline");
    };
    const evalsha = vi.fn();
    const store = { client: { evalsha }, layout: { prefix: "jude" }, keys: {} } as unknown as Store;
    const decision = {
      switchPointer: { kind: "flip", expectedCurrent: "minilm-v1", target: "minilm-v2" },
    } as unknown as PromotionDecision;
    await expect(
      actOnPromotion(context, testModel() as EmbeddingModel, decision, {
        store,
        images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
        pipelines: [],
        specBlocked: false,
        reconcileStartedAtMs: 0,
        changelogPartitions: async () => 1,
      }),
    ).rejects.toThrow(/lost the leader lease/);
    expect(evalsha).not.toHaveBeenCalled();
  });
});

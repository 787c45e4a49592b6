import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext, summarizeCalls, type RecordedCall } from "../nearline-pipeline/fake-context.ts";
import { imagesFor } from "../shared/image.ts";
import { embeddingModelController } from "./controller.ts";

// Was: a model whose reconcile kept failing (its store or the API unreachable) kept status.approval
// once spec.promotion.approvedVersion was removed: `kubectl jude approve`'s "wait until
// status.approval is gone" never showed, as on the other Stalled paths before withApprovalAsSeen.
describe("embeddingModelController's failure reports", () => {
  const key = { namespace: "recs", name: "minilm" };
  const approval = { version: "v2", observedTime: "2026-12-01T11:00:00Z", build: "2026-11-01T10:00:00Z" };
  const model = (approvedVersion: string | undefined): KubeObject => ({
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name: "minilm", namespace: "recs", generation: 5 },
    spec: { promotion: approvedVersion === undefined ? {} : { approvedVersion } },
    status: { observedGeneration: 4, activeVersion: "v1", approval, conditions: [] },
  });
  const definition = embeddingModelController({
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    concurrency: 1,
  });
  const failure = {
    error: new Error("connect ECONNREFUSED 10.0.0.1:6379"),
    sinceMs: 0,
    failures: 3,
    persistent: true,
  };
  const cause = "cannot list pods in namespace recs: 403 Forbidden";
  const reports = {
    reportFailure: (context: Parameters<NonNullable<typeof definition.reportFailure>>[0]) =>
      definition.reportFailure!(context, failure),
    reportNotSynced: (context: Parameters<NonNullable<typeof definition.reportNotSynced>>[0]) =>
      definition.reportNotSynced!(context, cause),
  };

  /** The status `report` writes for `raw`. */
  async function statusWritten(report: keyof typeof reports, raw: KubeObject) {
    const { context, calls } = fakeContext(key, { EmbeddingModel: [raw] });
    await reports[report](context);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus EmbeddingModel/minilm",
      "event Warning ReconcileError",
    ]);
    return (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status as Record<string, unknown>;
  }

  it.each(Object.keys(reports) as (keyof typeof reports)[])(
    "%s forgets an approval the spec no longer names and keeps one it does",
    async (report) => {
      expect(await statusWritten(report, model(undefined))).not.toHaveProperty("approval");
      expect(await statusWritten(report, model("v3"))).not.toHaveProperty("approval");
      expect(await statusWritten(report, model("v2"))).toMatchObject({ activeVersion: "v1", approval });
    },
  );
});

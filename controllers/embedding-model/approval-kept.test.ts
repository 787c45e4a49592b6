import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { withApprovalAsSeen } from "./approval-kept.ts";

describe("withApprovalAsSeen", () => {
  const approval = { version: "v2", observedTime: "2026-12-01T11:00:00Z", build: "2026-11-01T10:00:00Z" };
  const model = (approvedVersion: string | undefined): KubeObject => ({
    metadata: { name: "m" },
    spec: { promotion: approvedVersion === undefined ? {} : { approvedVersion } },
    status: { activeVersion: "v1", approval },
  });

  it("keeps the approval the spec still names", () => {
    expect(withApprovalAsSeen(model("v2")).status).toEqual({ activeVersion: "v1", approval });
  });

  // The store-conflict and missing-Secret paths keep the rest of the status as it was.
  it("forgets one removed from the spec, or changed to name another version", () => {
    expect(withApprovalAsSeen(model(undefined)).status).toEqual({ activeVersion: "v1" });
    expect(withApprovalAsSeen(model("v3")).status).toEqual({ activeVersion: "v1" });
  });
});

// status.approval in a status a reconcile keeps without deciding (Stalled before the promotion: a spec
// it cannot read, a missing store Secret, another model's store). Pure.
import type { KubeObject } from "../../operator/runtime/types.ts";

/**
 * `raw` with status.approval forgotten once spec.promotion.approvedVersion no longer names its version,
 * as seenApproval (promotion.ts) forgets it when it decides. Kept as it was, the removal `kubectl jude
 * approve` asks for (of an approval given for an earlier build: "wait until status.approval is gone")
 * never showed while the model was Stalled, and an approval set again meanwhile was not seen as new.
 */
export function withApprovalAsSeen<T extends KubeObject>(raw: T): T {
  const status = raw.status as { approval?: { version?: string } } | undefined;
  const spec = raw.spec as { promotion?: { approvedVersion?: unknown } } | undefined;
  if (status?.approval === undefined || status.approval.version === spec?.promotion?.approvedVersion)
    return raw;
  const { approval: _approval, ...kept } = status;
  return { ...raw, status: kept };
}

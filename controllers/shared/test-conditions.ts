// Status conditions the controllers' unit tests start objects from. Used only by tests.

/**
 * The Ready, Reconciling and Stalled conditions of an object the operator could not reconcile (its
 * lists refused): Stalled=True with ReconcileError, as reportNotSynced writes it.
 */
export const notReconciledConditions = () =>
  ["Ready", "Reconciling", "Stalled"].map((type) => ({
    type,
    status: type === "Stalled" ? "True" : "False",
    reason: "ReconcileError",
    message: "not reconciled until the operator can list what it reads (retrying): cannot list …",
    lastTransitionTime: "2026-12-01T00:00:00Z",
  }));

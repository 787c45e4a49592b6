// Which of several BootstrapRuns of one pipeline and version fills it, and which filled an earlier
// build of the version. Pure.
import type { BootstrapRun } from "../../crds/index.ts";

/**
 * The run among `runs` (of one pipeline and version) that fills the version: the first that has left
 * Pending (Running, Suspended, Succeeded or Failed), else the first. A second run of a version waits
 * Pending (AnotherRunInFlight: bootstrap-run/reconcile.ts runAhead) while another fills it, and may be
 * listed first; the promotion and the version's workers follow the run that fills it.
 */
export function fillingRun(runs: readonly BootstrapRun[]): BootstrapRun | undefined {
  return runs.find((run) => (run.status?.phase ?? "Pending") !== "Pending") ?? runs[0];
}

/**
 * Whether `run` filled an earlier build of its version: its snapshot was captured before the current
 * build started (its promotion's start, or a later rebuild's:
 * embedding-model/version-record.ts buildStart). A version whose vectors were collected and that is
 * promoted again (a rollback beyond retention) still has the Succeeded run of its first build; that
 * run says nothing about the vectors now in the store, nor about the offsets its workers start from,
 * and its name is the one the new build's run needs.
 */
export function isEarlierBuild(run: BootstrapRun, buildStartTime: string | undefined): boolean {
  const captured = run.status?.watermarks?.capturedTime;
  if (captured === undefined || buildStartTime === undefined) return false;
  return Date.parse(captured) < Date.parse(buildStartTime);
}

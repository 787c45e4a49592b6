// Which of several BootstrapRuns of one pipeline and version fills it. Pure.
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

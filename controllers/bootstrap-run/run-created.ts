// When a BootstrapRun was created, as the API server stamped it: what orders two runs of one version,
// and what a young run's grace for a pipeline or model applied with it counts from.
import type { BootstrapRun } from "../../crds/index.ts";

/** `metadata.creationTimestamp` in epoch milliseconds (a string or a Date as read); NaN when unknown. */
export function createdMs(run: BootstrapRun): number {
  const created: unknown = run.metadata.creationTimestamp;
  return created instanceof Date ? created.getTime() : Date.parse(String(created ?? ""));
}

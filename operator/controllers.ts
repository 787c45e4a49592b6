// The controllers `jude operator` can run, by name (`--controllers` picks a subset). Each entry builds
// its ControllerDefinition from the operator's settings; add a controller by adding one line here.
import { bootstrapRunController } from "../controllers/bootstrap-run/controller.ts";
import { embeddingModelController } from "../controllers/embedding-model/controller.ts";
import { nearlinePipelineController } from "../controllers/nearline-pipeline/controller.ts";
import type { Images } from "../controllers/shared/image.ts";
import type { WorkloadPlacement } from "../controllers/shared/placement.ts";
import type { Registry } from "prom-client";
import type { ControllerDefinition } from "./runtime/types.ts";

/** What a controller factory gets from the operator's configuration. */
export interface ControllerSettings {
  images: Images;
  /** Default node selector and tolerations of every workload pod the controllers render. */
  placement?: WorkloadPlacement;
  /** Keys reconciled at once per controller. */
  concurrency: number;
  /** The operator's metrics registry (controllers add their domain metrics to it). */
  registry?: Registry;
  /**
   * Longest a call outside the API server may take before the reconcile retries later: a changelog's
   * end offsets (a BootstrapRun's watermarks, a promotion's partition count) and a run's checkpoints
   * in the store. 20 s when absent (--external-timeout-seconds).
   */
  externalTimeoutMs?: number;
  /** Longest a parity measurement may take before the gate says it could not be measured; 30 s when absent. */
  parityTimeoutMs?: number;
  /** How often a model is reconciled while nothing else wakes it; 30 s when absent. */
  modelResyncMs?: number;
  /** How often a model looks again while store versions wait to be collected; 5 s when absent. */
  collectionPollMs?: number;
  /**
   * How often a pipeline's status is refreshed from its workers' figures and a missing Secret looked
   * for again; 30 s when absent.
   */
  pipelinePollMs?: number;
}

/** Controller factories by name. */
export const controllerFactories: Readonly<
  Record<string, (settings: ControllerSettings) => ControllerDefinition>
> = {
  "embedding-model": embeddingModelController,
  "nearline-pipeline": nearlinePipelineController,
  "bootstrap-run": bootstrapRunController,
};

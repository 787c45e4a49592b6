// Inputs of the promotion decision tables: a model's spec per version, records, store states and
// measurements, built so each table row changes only what it is about.
import type { BootstrapObservation } from "./promotion-gates.ts";
import type { PromotionInputs, PromotionPolicy, StoreObservation } from "./promotion.ts";
import type { RecordedSpec, VersionRecord } from "./version-record.ts";
import type { DeploymentObservation, ServingState } from "./version-status.ts";

/** The decision's clock in every table. */
export const now = new Date("2026-12-02T12:00:00Z");

/** `seconds` before `now`, as RFC 3339. */
export function ago(seconds: number): string {
  return new Date(now.getTime() - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A spec per version: each version has its own model file (so its vectors differ). */
export function specOf(version: string): RecordedSpec {
  return {
    model: {
      uri: `file:///models/${version}/model.onnx`,
      sha256: "5f".repeat(32),
      dimensions: 384,
      pooling: "mean",
      normalize: true,
      maxSequenceLength: 256,
      precision: "fp32",
    },
    prompts: { job: "Job: {{title}}" },
    serving: {} as RecordedSpec["serving"],
  };
}

export const policy: PromotionPolicy = {
  cutover: "Automatic",
  minCoverage: 0.99,
  maxLagSeconds: 30,
  bakeSeconds: 600,
  retainVersions: 1,
  progressDeadlineSeconds: 3600,
};

/** A Deployment rolled out to one replica that is not ready yet. */
export const unreadyDeployment: DeploymentObservation = {
  generation: 1,
  observedGeneration: 1,
  replicas: 1,
  updatedReplicas: 1,
  readyReplicas: 0,
  availableReplicas: 0,
  progressDeadlineExceeded: false,
};

export const ready: ServingState = {
  state: "Ready",
  reason: "ServingReady",
  message: "1/1 replicas ready",
  readyReplicas: 1,
};
export const rolling: ServingState = {
  state: "Reconciling",
  reason: "RollingOut",
  message: "0/1 replicas ready",
  readyReplicas: 0,
};
export const stuck: ServingState = {
  state: "Stalled",
  reason: "ProgressDeadlineExceeded",
  message: "the serving pods did not become ready",
  readyReplicas: 0,
};

/** A record of a version that was promoted `startedAgo` seconds ago, with optional lifecycle times. */
export function record(version: string, fields: Partial<VersionRecord> = {}): VersionRecord {
  return { version, spec: specOf(version), promotionStartTime: ago(7200), ...fields };
}

/** A store whose pointer names `current`, with the registry given. */
export function store(
  current: string | null,
  versions: StoreObservation["versions"],
  fields: Partial<StoreObservation> = {},
): StoreObservation {
  return { name: "jobs-store", current, backup: null, flippedAtMs: null, versions, ...fields };
}

export const succeeded: BootstrapObservation = {
  name: "jobs-v2",
  phase: "Succeeded",
  message: "done",
  percent: 100,
  watermarksCaptured: true,
};

/** Every gate of the candidate measured and passing. */
export const passing = {
  bootstrap: succeeded,
  lag: { pipelines: 1, reporting: 1, records: 0, freshnessSeconds: 0.4 },
  coverage: { candidateLive: 1000, baseLive: 1000 },
  parity: { sampled: 16, matched: 16, minCosine: 0.99998 },
};

/** Inputs of "v1 active, promoting spec v2" with everything passing; rows override parts. */
export function promoting(overrides: Partial<PromotionInputs> = {}): PromotionInputs {
  return {
    specVersion: "v2",
    spec: specOf("v2"),
    policy,
    store: store("v1", { v1: "complete", v2: "complete" }),
    statusActive: "v1",
    records: [
      record("v1", { activatedTime: ago(7000), workers: true }),
      record("v2", { promotionStartTime: ago(60) }),
    ],
    serving: { v1: ready, v2: ready },
    candidate: passing,
    writersPresent: ["v1", "v2"],
    now,
    ...overrides,
  };
}

/** Inputs of rolling back to v1 after `records` flipped v1 -> v2 (the pointer flipped at `flippedAtMs`). */
export function rollingBackToV1(records: VersionRecord[], flippedAtMs: number, at: Date): PromotionInputs {
  return {
    ...promoting(),
    specVersion: "v1",
    spec: specOf("v1"),
    store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1", flippedAtMs }),
    statusActive: "v2",
    records,
    now: at,
  };
}

/**
 * Inputs of spec v3 taking over from v1 (active again after a rollback from v2 that flipped the
 * pointer at `flippedAtMs`) at `at`, v3 started a minute before; rows name the serving and writers.
 */
export function takingOverFromV1(
  records: VersionRecord[],
  flippedAtMs: number,
  at: Date,
  overrides: Pick<PromotionInputs, "serving" | "writersPresent">,
): PromotionInputs {
  return {
    ...promoting(),
    specVersion: "v3",
    spec: specOf("v3"),
    store: store("v1", { v1: "complete", v2: "complete", v3: "complete" }, { backup: "v2", flippedAtMs }),
    statusActive: "v1",
    records: [
      ...records,
      record("v3", { promotionStartTime: new Date(at.getTime() - 60_000).toISOString() }),
    ],
    candidate: passing,
    now: at,
    ...overrides,
  };
}

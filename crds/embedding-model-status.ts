// EmbeddingModel.status: what the operator observed of each embedding version and of the promotion.
import { z } from "zod";
import { conditions, dnsLabel, observedGeneration } from "./common.ts";
import { listMap } from "./kube.ts";
import { hostPortPattern, sha256Pattern } from "./patterns.ts";

/** Lifecycle of one embedding version. */
export const versionPhase = z.enum([
  "Deploying",
  "Bootstrapping",
  "CatchingUp",
  "AwaitingCutover",
  "Active",
  "Draining",
  "Retained",
  "Failed",
]);

/** Observed state of one embedding version. */
export const modelVersionStatus = z.strictObject({
  version: dnsLabel().describe("The embedding version."),
  phase: versionPhase.describe(
    "Deploying (serving starting), Bootstrapping, CatchingUp (bootstrapped; waiting for the CaughtUp, CoverageMet or ParityPassed gate), AwaitingCutover (gates pass; waiting for approval), Active (readers use it), Draining (previous version during the bake period), Retained (kept for rollback, not served) or Failed.",
  ),
  modelDigest: z
    .string()
    .regex(sha256Pattern, "must be 64 lower-case hex digits")
    .optional()
    .describe(
      "The version's spec.model.sha256: the SHA-256 jude fetch-model verified the model file against before the server started. Unset when the spec gives none (the operator does not hash model files).",
    ),
  readyReplicas: z.int().min(0).optional().describe("Serving replicas that pass their readiness probe."),
  endpoint: z
    .string()
    .max(512)
    .regex(hostPortPattern, "must be host:port")
    .optional()
    .describe("host:port of the version's gRPC Service; unset while the version is not served (Retained)."),
  coverage: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe("Fraction of the active version's keys present in this version (1 for the active version)."),
  lagSeconds: z
    .number()
    .min(0)
    .optional()
    .describe(
      "Only while this version is being promoted: the largest freshness p95 (event time to vector written, over the last minute) its nearline workers report in the model's NearlinePipelines, in seconds; what the CaughtUp gate compares with spec.promotion.maxLagSeconds. Unset until a worker reports it.",
    ),
  activatedTime: z.iso
    .datetime({ offset: true })
    .optional()
    .describe("When readers last switched to this version."),
});

/** Observed state of an EmbeddingModel. */
export const embeddingModelStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions
      .optional()
      .describe(
        "Ready, Reconciling and Stalled (kstatus); Promoted (readers use spec.version); the gates of the version being promoted, each with its measured value in the message: ServingReady, BootstrapComplete, CaughtUp, CoverageMet and ParityPassed; RolledBack (True after a rollback to a retained version; False with reason RollingBack while a retained version's workers catch up before readers return to it, VectorsCollected when the version's vectors were collected and it is promoted from scratch, or StoreDataLost when the store lost the active version, e.g. a Redis restarted without persistence, and it is rebuilt).",
      ),
    activeVersion: dnsLabel()
      .optional()
      .describe("The version readers use now; the store's current-version pointer names it."),
    versions: listMap(z.array(modelVersionStatus).max(16), ["version"])
      .optional()
      .describe("Every version that is served, being promoted or retained for rollback."),
    approval: z
      .strictObject({
        version: dnsLabel().describe("spec.promotion.approvedVersion as the operator saw it."),
        observedTime: z
          .string()
          .max(64)
          .describe(
            "When the operator first saw spec.promotion.approvedVersion name this version (RFC 3339).",
          ),
        build: z
          .string()
          .max(64)
          .optional()
          .describe(
            "The build of the version the approval was given for: its promotion's start time (RFC 3339), as in the version's record. Set once the approval counts for a build.",
          ),
      })
      .optional()
      .describe(
        "The approval the operator has seen (cutover Manual). It counts for one build of the version: the one recorded when the operator first saw it (a candidate approved as it waits), else the first to start after (set in the same commit as spec.version, or before it); an approval given for an earlier build of the same version name (since superseded or collected) does not switch readers to a new one.",
      ),
    storeEpoch: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe(
        "The highest epoch of the store's version pointer the operator wrote or saw, so the highest readers may hold: every switch writes the pointer above it, so readers follow it even after the store came back from an older snapshot or lost its data. No switch lowers the epoch, so a pointer found below it that names another version than readers used last is reported as lost data (Ready reason StoreDataLost).",
      ),
    storeConflict: z
      .strictObject({
        store: z.string().max(128).describe("The store's key prefix."),
        database: z
          .string()
          .max(2048)
          .optional()
          .describe(
            "The Redis database the store is in, without credentials (scheme, host, port and database number, or a Redis Cluster's seed nodes): a store of the same name elsewhere is another store.",
          ),
        owner: z
          .strictObject({
            namespace: z.string().max(63).describe("Its namespace."),
            name: z.string().max(253).describe("Its name."),
            uid: z.string().max(64).describe("Its metadata.uid (one recreated under its name is another)."),
          })
          .describe("The EmbeddingModel that owns the store."),
      })
      .optional()
      .describe(
        "While Stalled with reason StoreConflict: the model that owns the store this model's pipelines name. Should the store lose its owner record (its Redis lost its data), this model claims the store only once that model no longer exists or names it.",
      ),
  })
  .describe("Observed state, written by the operator.");

export type EmbeddingModelStatus = z.output<typeof embeddingModelStatus>;
export type ModelVersionStatus = z.output<typeof modelVersionStatus>;
export type VersionPhase = z.output<typeof versionPhase>;

/** Condition types an EmbeddingModel reports. */
export const embeddingModelConditionTypes = [
  "Ready",
  "Reconciling",
  "Stalled",
  "Promoted",
  "ServingReady",
  "BootstrapComplete",
  "CaughtUp",
  "CoverageMet",
  "ParityPassed",
  "RolledBack",
] as const;

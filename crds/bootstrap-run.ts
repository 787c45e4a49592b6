// BootstrapRun: one back-fill of an embedding version from a snapshot, run as an Indexed Job with
// deduplication, checkpointed progress and resume (DESIGN.md section 3, "Bootstrap").
import { z } from "zod";
import { conditions, dnsLabel, localObjectRef, observedGeneration, resourceRequirements } from "./common.ts";
import { listMap, withRules } from "./kube.ts";
import { artifactUriPattern, kafkaTopicPattern } from "./patterns.ts";
import {
  parseResource,
  readyMessageColumn,
  resourceSchema,
  safeParseResource,
  type KindDefinition,
  type ParseOptions,
  type ParseResult,
} from "./resource.ts";

const timestamp = () => z.iso.datetime({ offset: true });

/** Where the snapshot comes from: exactly one of kafkaSnapshot or files. */
export const bootstrapSource = withRules(
  z.strictObject({
    kafkaSnapshot: z
      .strictObject({})
      .optional()
      .describe(
        "Read the pipeline's changelog topic from the beginning up to the end offsets captured when the run starts (status.watermarks); the latest record of each key wins. Set as {}.",
      ),
    files: z
      .strictObject({
        uris: z
          .array(
            z
              .string()
              .max(2048)
              .regex(
                artifactUriPattern,
                "must be an https://host/path, file:///path or pvc://claim/path URI",
              ),
          )
          .min(1)
          .max(1000)
          .describe("Files to read (https://, file:///, pvc://claim/path), split over the shards."),
        format: z
          .enum(["jsonl"])
          .default("jsonl")
          .describe("File format: jsonl, one event per line, decoded like the pipeline's records."),
      })
      .optional()
      .describe("Read a snapshot exported to files, e.g. a database dump."),
  }),
  [
    {
      rule: "has(self.kafkaSnapshot) != has(self.files)",
      message: "set exactly one of kafkaSnapshot or files",
      holds: (self) => (self.kafkaSnapshot !== undefined) !== (self.files !== undefined),
    },
  ],
);

/** Restricts a run to some entities or an event-time window. */
export const bootstrapScope = withRules(
  z.strictObject({
    ids: z
      .array(z.string().min(1).max(512))
      .max(1000)
      .optional()
      .describe("Only these entity ids, e.g. to repair a few keys; unset means every entity."),
    eventTimeFrom: timestamp().optional().describe("Only events at or after this time (RFC 3339)."),
    eventTimeTo: timestamp()
      .optional()
      .describe(
        "Only events before this time (RFC 3339). A key deleted at or after it is still deleted, so its earlier update cannot bring it back.",
      ),
  }),
  [
    {
      rule: "!has(self.eventTimeFrom) || !has(self.eventTimeTo) || timestamp(self.eventTimeFrom) < timestamp(self.eventTimeTo)",
      message: "eventTimeTo must be after eventTimeFrom",
      field: "eventTimeTo",
      holds: (self) =>
        self.eventTimeFrom === undefined ||
        self.eventTimeTo === undefined ||
        Date.parse(self.eventTimeFrom) < Date.parse(self.eventTimeTo),
    },
  ],
);

/** Desired state of a BootstrapRun. */
export const bootstrapRunSpec = withRules(
  z.strictObject({
    pipelineRef: localObjectRef.describe(
      "The NearlinePipeline whose decode, extract and sinks the run uses, in the same namespace.",
    ),
    modelVersion: dnsLabel().describe(
      "Embedding version to fill, usually the one being promoted; it must be served by the pipeline's EmbeddingModel.",
    ),
    source: bootstrapSource.describe("Where the snapshot comes from: exactly one of kafkaSnapshot or files."),
    scope: bootstrapScope
      .optional()
      .describe("Restrict the run to some ids or an event-time window; unset means everything."),
    parallelism: z
      .int()
      .min(1)
      .max(256)
      .default(4)
      .describe("Shards the work is split into; each is one index of the Indexed Job, all running at once."),
    dedupe: z
      .boolean()
      .default(true)
      .describe(
        "Embed each distinct rendered text once and reuse the vector for every entity with that text.",
      ),
    resources: resourceRequirements
      .optional()
      .describe(
        "CPU and memory requests and limits of a shard's container; fixed when the run is created (its Job's pod template cannot change).",
      ),
    // The Job's field is an int32: a larger value would pass here and be refused on every apply of the Job.
    ttlSecondsAfterFinished: z
      .int32()
      .min(0)
      .optional()
      .describe(
        "Delete the run's Job and its pods this long after the run succeeds or fails (the BootstrapRun and its status stay); unset keeps them.",
      ),
    activeDeadlineSeconds: z
      .int()
      .min(1)
      .optional()
      .describe(
        "Fail the run (reason DeadlineExceeded) this long after its Job started, time its shards wait to be scheduled or started included; unset means no deadline: shards the scheduler cannot place or the kubelet cannot start are waited for.",
      ),
    backoffLimit: z
      .int()
      .min(0)
      .max(1000)
      .default(6)
      .describe(
        "Pod failures tolerated before the run fails; a retried shard resumes from its checkpoint. An edit applies to the running Job.",
      ),
    suspend: z
      .boolean()
      .default(false)
      .describe("Stop the run's pods without losing progress; set back to false to resume."),
  }),
  [
    {
      rule: "self.pipelineRef == oldSelf.pipelineRef",
      message: "pipelineRef is immutable",
      field: "pipelineRef",
    },
    {
      rule: "self.modelVersion == oldSelf.modelVersion",
      message: "modelVersion is immutable",
      field: "modelVersion",
    },
    { rule: "self.source == oldSelf.source", message: "source is immutable", field: "source" },
    {
      rule: "has(self.scope) == has(oldSelf.scope) && (!has(self.scope) || self.scope == oldSelf.scope)",
      message: "scope is immutable",
      field: "scope",
    },
    {
      rule: "self.parallelism == oldSelf.parallelism",
      message: "parallelism is immutable: shards checkpoint by index",
      field: "parallelism",
    },
    { rule: "self.dedupe == oldSelf.dedupe", message: "dedupe is immutable", field: "dedupe" },
    {
      // A Job's pod template is immutable, so an edit here would be accepted and never reach a shard.
      rule: "has(self.resources) == has(oldSelf.resources) && (!has(self.resources) || self.resources == oldSelf.resources)",
      message:
        "resources is immutable: the run's Job keeps the pod template it started with; delete and recreate the run to change them",
      field: "resources",
    },
  ],
).describe(
  "Desired state: what to back-fill, from where, and how the Job runs. Immutable except suspend, backoffLimit and the time limits.",
);

/** Counts of a run's work; maintained from the shards' checkpoints. */
export const bootstrapProgress = z.strictObject({
  total: z
    .int()
    .min(0)
    .optional()
    .describe(
      "Records in the snapshot: for Kafka the offsets from each partition's start to its watermark (records outside spec.scope included: they are read, and counted processed); for files the lines read, known once every file is done.",
    ),
  processed: z.int().min(0).optional().describe("Records read so far."),
  embedded: z.int().min(0).optional().describe("Distinct texts embedded."),
  deduplicated: z.int().min(0).optional().describe("Records that reused the vector of an identical text."),
  failed: z
    .int()
    .min(0)
    .optional()
    .describe(
      'Records not written: they could not be decoded (a dead-letter code such as INVALID_JSON or EVENT_TIME_AHEAD, or LINE_TOO_LONG for a file line over 16 MiB), had none of the extracted fields (NO_FIELDS) or held Debezium\'s placeholder for an unchanged TOAST value (UNAVAILABLE_VALUE), or their text was refused by the embedding server (EMBEDDING_REFUSED); each is logged by its shard as "record not written" with its code. A store write that fails fails the shard instead.',
    ),
  percent: z
    .int()
    .min(0)
    .max(100)
    .optional()
    .describe(
      "Share of the snapshot the shards have read (Kafka offsets, or bytes of each file), rounded down; 100 only once every shard finished.",
    ),
});

/** One partition's end offset captured when the run started. */
export const partitionWatermark = z.strictObject({
  partition: z.int().min(0).describe("Partition number."),
  offset: z.int().min(0).describe("End offset (exclusive) the run reads up to."),
});

/** Observed state of a BootstrapRun. */
export const bootstrapRunStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    phase: z
      .enum(["Pending", "Running", "Succeeded", "Failed", "Suspended"])
      .optional()
      .describe("Pending, Running, Succeeded, Failed or Suspended."),
    progress: bootstrapProgress.optional().describe("Counts of the work done so far."),
    watermarks: z
      .strictObject({
        capturedTime: timestamp().describe("When the offsets were captured."),
        topic: z
          .string()
          .min(1)
          .max(249)
          .regex(
            kafkaTopicPattern,
            "must be a Kafka topic name: letters, digits, '.', '_' and '-', not '.' or '..'",
          )
          .describe("The changelog topic."),
        partitions: listMap(z.array(partitionWatermark).max(10000), ["partition"]).describe(
          "End offset per partition; the new version's nearline workers start here, so no change is lost.",
        ),
      })
      .optional()
      .describe(
        "The changelog end offsets captured at start: the run reads up to them, the nearline workers continue from them.",
      ),
    jobName: z.string().max(253).optional().describe("Name of the Indexed Job running the shards."),
    startTime: timestamp().optional().describe("When the run started."),
    completionTime: timestamp().optional().describe("When the run succeeded or failed."),
    conditions: conditions
      .optional()
      .describe("Ready, Reconciling and Stalled (kstatus), plus Complete and Failed as Jobs report them."),
  })
  .describe("Observed state, written by the operator.");

/** A whole BootstrapRun object. */
export const bootstrapRunSchema = resourceSchema("BootstrapRun", bootstrapRunSpec, bootstrapRunStatus);

/** A BootstrapRun as controllers see it: validated, with every default filled in. */
export type BootstrapRun = z.output<typeof bootstrapRunSchema>;
/** A BootstrapRun as users write it (defaults optional). */
export type BootstrapRunInput = z.input<typeof bootstrapRunSchema>;
export type BootstrapRunSpec = z.output<typeof bootstrapRunSpec>;
export type BootstrapRunStatus = z.output<typeof bootstrapRunStatus>;
export type BootstrapPhase = NonNullable<BootstrapRunStatus["phase"]>;

/** Condition types a BootstrapRun reports. */
export const bootstrapRunConditionTypes = ["Ready", "Reconciling", "Stalled", "Complete", "Failed"] as const;

/** Validates and defaults a BootstrapRun; throws InvalidResourceError naming each bad field. */
export function parseBootstrapRun(value: unknown): BootstrapRun {
  return parseResource(bootstrapRunSchema, "BootstrapRun", value);
}

/** Like parseBootstrapRun, returning the error instead of throwing. */
export function safeParseBootstrapRun(value: unknown, options?: ParseOptions): ParseResult<BootstrapRun> {
  return safeParseResource(bootstrapRunSchema, "BootstrapRun", value, options);
}

/** CRD generation input for BootstrapRun. */
export const bootstrapRunKind: KindDefinition = {
  kind: "BootstrapRun",
  plural: "bootstrapruns",
  singular: "bootstraprun",
  shortNames: ["br"],
  description:
    "BootstrapRun back-fills one embedding version from a snapshot (the changelog up to captured offsets, or files) with an Indexed Job: every entity is rendered, identical texts are embedded once, and vectors are written only where nothing newer exists.",
  spec: bootstrapRunSpec,
  status: bootstrapRunStatus,
  printerColumns: [
    {
      name: "Version",
      type: "string",
      jsonPath: ".spec.modelVersion",
      description: "Embedding version filled.",
    },
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase." },
    {
      name: "Progress",
      type: "integer",
      jsonPath: ".status.progress.percent",
      description: "Percent of records done.",
    },
    {
      name: "Pipeline",
      type: "string",
      jsonPath: ".spec.pipelineRef.name",
      description: "The NearlinePipeline used.",
      priority: 1,
    },
    readyMessageColumn,
    {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
      description: "Time since creation.",
    },
  ],
  selectableFields: [".spec.pipelineRef.name", ".spec.modelVersion"],
  source: "crds/bootstrap-run.ts",
};

// NearlinePipeline: turns one entity's Kafka changelog into embeddings of every live version of an
// EmbeddingModel (DESIGN.md section 3). The operator runs a worker Deployment per live version.
import { z } from "zod";
import {
  conditions,
  dnsLabel,
  localObjectRef,
  observedGeneration,
  resourceRequirements,
  secretKeyRef,
} from "./common.ts";
import { keysMatching, listMap, mapOf, withRules } from "./kube.ts";
import { kafkaSource } from "./nearline-pipeline-kafka.ts";
import { fieldNamePattern, jsonPathPattern, kafkaTopicPattern } from "./patterns.ts";
import {
  parseResource,
  readyMessageColumn,
  resourceSchema,
  safeParseResource,
  type KindDefinition,
  type ParseOptions,
  type ParseResult,
} from "./resource.ts";

const jsonPath = () =>
  z
    .string()
    .max(256)
    .regex(jsonPathPattern, "must be a JSON path such as $.title, $.company.name or $.skills[*].name");
const topic = () =>
  z
    .string()
    .min(1)
    .max(249)
    .regex(
      kafkaTopicPattern,
      "must be a Kafka topic name: letters, digits, '.', '_' and '-', not '.' or '..'",
    );

/** How a Kafka record becomes an upsert or a delete of one entity. */
export const decode = withRules(
  z.strictObject({
    format: z
      .enum(["json"])
      .default("json")
      .describe("Encoding of record values; json is the only format so far."),
    keyPath: jsonPath()
      .optional()
      .describe(
        "JSON path of the entity id inside the value, e.g. $.jobId; unset means the record key (its UTF-8 text, or the id at recordKeyPath) is the id. A tombstone's id is always the record key's.",
      ),
    recordKeyPath: jsonPath()
      .optional()
      .describe(
        'JSON path of the entity id inside the record key read as JSON, for keys that are JSON objects: $.memberId for Debezium\'s {"memberId": 7}, $.payload.memberId with its schemas enabled. Used for every record, delete events and tombstones included (a Debezium delete has no $.after, its tombstone only the key). Not together with keyPath.',
      ),
    eventTimePath: jsonPath()
      .optional()
      .describe(
        "JSON path of the change's event time (RFC 3339 or epoch milliseconds); unset means the record timestamp. Newer event times win in the store.",
      ),
    maxEventTimeAheadSeconds: z
      .int()
      .min(1)
      .max(10 * 365 * 86_400)
      .default(3600)
      .describe(
        "How far an event time may be ahead of the worker's clock; a change further ahead is dead-lettered (EVENT_TIME_AHEAD). Newer event times win in the store, so one far-future time (a producer's bad clock, milliseconds written as microseconds) would hide every later change of that entity. 3600 matches Kafka's log.message.timestamp.after.max.ms.",
      ),
    delete: z
      .strictObject({
        path: jsonPath().describe("JSON path of the operation field, e.g. $.op."),
        values: z
          .array(z.string().min(1).max(64))
          .min(1)
          .max(8)
          .describe("Values of that field that mean the entity was deleted, e.g. [d, delete]."),
      })
      .optional()
      .describe(
        "Marks delete events inside the value. A tombstone (a record with a null value) is always a delete.",
      ),
  }),
  [
    {
      rule: "!has(self.keyPath) || !has(self.recordKeyPath)",
      message:
        "set keyPath (the id inside the value) or recordKeyPath (the id inside the record key), not both",
      field: "recordKeyPath",
      holds: (self) => self.keyPath === undefined || self.recordKeyPath === undefined,
    },
  ],
);

/**
 * When an acknowledged store write counts as durable, i.e. when a worker may commit the offsets of the
 * batch that made it (README, "Delivery guarantees"). Unset: Redis's own acknowledgement. The worker
 * config carries the same object.
 */
export const storeDurability = z
  .strictObject({
    replicas: z
      .int()
      .min(0)
      .max(16)
      .default(0)
      .describe(
        "Replicas that must hold each batch's writes before its offsets are committed (Redis WAIT, or WAITAOF with fsync).",
      ),
    fsync: z
      .boolean()
      .default(false)
      .describe(
        "Also wait until the primary (and those replicas) fsynced the writes to the AOF: WAITAOF, Redis >= 7.2 with appendonly yes; workers refuse to start otherwise.",
      ),
    timeoutMs: z
      .int()
      .min(10)
      .max(60_000)
      .default(1_000)
      .describe(
        "Longest one wait blocks, in milliseconds; a wait that falls short is retried and the offsets stay uncommitted.",
      ),
  })
  .describe(
    "Make offset commits (and bootstrap checkpoints) wait until the store writes are replicated or fsynced; unset: Redis's acknowledgement, which `appendfsync everysec` can lose about a second of on a host crash.",
  );

/** Where vectors are written. */
export const sinks = z.strictObject({
  store: z
    .strictObject({
      urlSecretRef: secretKeyRef.describe(
        "Secret key holding the Redis URL (redis:// or rediss://, credentials included) of the online store; with cluster true, a comma-separated host:port list of Redis Cluster seed nodes instead.",
      ),
      cluster: z
        .boolean()
        .default(false)
        .describe(
          "The store is a Redis Cluster: the Secret holds its seed nodes as host:port,host:port (for a Cluster that wants a password, one seed as redis://[user]:password@host:port; it applies to every node), and the workers and the operator connect with a cluster client.",
        ),
      name: dnsLabel().describe(
        "Store name (key prefix jude:<name>) holding every version's vectors and the current-version pointer. All pipelines of one model name the same store, so one pointer flip switches every entity at once. A store belongs to one EmbeddingModel (recorded in the store as {jude:<name>}:owner); another model naming it is Stalled with reason StoreConflict until the owner is deleted or moves away.",
      ),
      durability: storeDurability.optional(),
    })
    .describe("The online key-value store ranking services read vectors from."),
  kafka: z
    .strictObject({ topic: topic().describe("Topic the vectors are produced to.") })
    .optional()
    .describe(
      "Also produce each vector (with entity, id, version, model digest and event time) for offline training, keyed by <entity>/<version>/<id> so a compacted topic keeps each version's latest vector during a promotion.",
    ),
  deadLetter: z
    .strictObject({
      topic: topic().describe(
        "Topic events that are not embedded are produced to (undecodable, no id or fields, an event time ahead, a text the embedding server refuses), with the code and reason in headers.",
      ),
    })
    .optional()
    .describe("Where events that cannot be decoded go; without it they are counted, logged and skipped."),
});

/** The worker Deployment of each live version. */
export const workers = z.strictObject({
  replicas: z
    .int()
    .min(0)
    .max(256)
    .default(1)
    .describe("Workers per live version; more than the topic's partitions leaves some idle."),
  maxBatchSize: z
    .int()
    .min(1)
    .max(4096)
    .default(64)
    .describe(
      "Most texts a worker (and a bootstrap shard) sends in one embedding call; capped at what the model's servers take in one call, min(128, spec.serving.batching.maxConcurrentRequests).",
    ),
  maxInflight: z
    .int()
    .min(1)
    .max(64)
    .default(4)
    .describe(
      "Embedding calls a worker keeps in flight; bounds memory and the load one worker puts on serving.",
    ),
  resources: resourceRequirements
    .optional()
    .describe(
      "CPU and memory requests and limits of a worker container, and of the shards of the BootstrapRun a promotion creates for this pipeline (taken when that run is created, as a run's resources are immutable).",
    ),
});

/** The entity's prompt fields: field name -> JSON path; worker configs carry the same map. */
export const extract = keysMatching(
  mapOf(jsonPath(), { min: 1, max: 64 }),
  fieldNamePattern,
  63,
  "a field name such as title",
);

/** Change detection switch; worker configs carry the same object. */
export const changeDetection = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      "Skip an event when the hash of its rendered text equals the hash stored for its key and version.",
    ),
});

/** What the topic rules read; the spec and the nearline worker config both have it. */
interface TopicsOf {
  source: { kafka: { topic: string } };
  sinks: { kafka?: { topic: string } | undefined; deadLetter?: { topic: string } | undefined };
}

/** A rule that a sink topic differs from the source topic; the nearline worker config checks it too. */
function distinctTopicRule(sink: "kafka" | "deadLetter", message: string) {
  return {
    rule: `!has(self.sinks.${sink}) || self.sinks.${sink}.topic != self.source.kafka.topic`,
    message,
    field: `sinks.${sink}`,
    holds: (self: TopicsOf) =>
      self.sinks[sink] === undefined || self.sinks[sink].topic !== self.source.kafka.topic,
  };
}

/** The dead-letter topic differs from the source, or bad events would loop back forever. */
export const deadLetterTopicRule = distinctTopicRule(
  "deadLetter",
  "the dead-letter topic must differ from the source topic, or bad events loop back forever",
);

/** The output topic differs from the source. */
export const outputTopicRule = distinctTopicRule(
  "kafka",
  "the output topic must differ from the source topic",
);

/**
 * The dead-letter topic differs from the output topic: dead letters are the raw source records, and
 * consumers of the output topic (offline training) read every record as a vector record.
 */
export const sinkTopicsRule = {
  rule: "!has(self.sinks.kafka) || !has(self.sinks.deadLetter) || self.sinks.kafka.topic != self.sinks.deadLetter.topic",
  message:
    "the dead-letter topic must differ from the output topic, or raw undecodable records reach the consumers of vector records",
  field: "sinks.deadLetter",
  holds: (self: TopicsOf) =>
    self.sinks.kafka === undefined ||
    self.sinks.deadLetter === undefined ||
    self.sinks.kafka.topic !== self.sinks.deadLetter.topic,
};

/** Desired state of a NearlinePipeline. */
export const nearlinePipelineSpec = withRules(
  z.strictObject({
    modelRef: localObjectRef.describe(
      "The EmbeddingModel whose versions this pipeline feeds, in the same namespace.",
    ),
    entity: dnsLabel().describe(
      "Entity this changelog carries, e.g. job; selects the model's prompt template of that name.",
    ),
    source: z
      .strictObject({ kafka: kafkaSource.describe("A Kafka changelog topic.") })
      .describe("Where change events come from."),
    decode: decode.prefault({}).describe("How records become upserts and deletes."),
    extract: extract.describe(
      "Fields to extract for the prompt: field name -> JSON path ($.title, $.company.name, $.skills[*].name; arrays are joined with ', ').",
    ),
    changeDetection: changeDetection
      .prefault({})
      .describe("Skipping changes that do not change the embedded text."),
    sinks: sinks.describe("Where vectors are written."),
    workers: workers.prefault({}).describe("The worker Deployment run for each live embedding version."),
  }),
  [
    deadLetterTopicRule,
    outputTopicRule,
    sinkTopicsRule,
    {
      rule: "self.modelRef == oldSelf.modelRef",
      message: "modelRef is immutable: create a new NearlinePipeline for another model",
      field: "modelRef",
    },
    {
      rule: "self.entity == oldSelf.entity",
      message: "entity is immutable: create a new NearlinePipeline for another entity",
      field: "entity",
    },
  ],
).describe("Desired state: the changelog, how events become prompt fields, and where vectors go.");

/** Store replays, as a version's running totals and as one worker process's counters. */
const storeReplayCounts = z.strictObject({
  replays: z
    .int()
    .min(0)
    .describe("Partitions replayed because the store's recorded offset lay below the committed one."),
  replayedOffsets: z.int().min(0).describe("Offsets those replays read again."),
  lost: z
    .int()
    .min(0)
    .describe("Records a replay needed that retention had deleted (also in sourceRecordsLost)."),
});

/**
 * The most worker processes a version's lossReads holds: one per worker at the largest
 * spec.workers.replicas. It holds the version's current pods that reported a loss only; past it the
 * field is left out, and a restarted operator counts as a release before it did (never twice).
 */
export const maxLossReads = 256;

/** One worker process's loss counters as the operator last read and counted them. */
const lossRead = z.strictObject({
  podUID: z.string().min(1).max(64).describe("The worker pod's UID."),
  processStartSeconds: z
    .number()
    .min(0)
    .optional()
    .describe(
      "When its worker process started, in seconds since the epoch (from its /metrics); absent when it was not read.",
    ),
  sourceRecordsLost: z
    .int()
    .min(0)
    .optional()
    .describe("Records it had lost to retention; absent while none."),
  storeReplays: storeReplayCounts.optional().describe("Its store replays; absent while none."),
});

/** Observed counters of one live version's workers. */
export const pipelineVersionStatus = z.strictObject({
  version: dnsLabel().describe("The embedding version these workers write."),
  readyReplicas: z.int().min(0).optional().describe("Workers that pass their readiness probe."),
  lag: z.int().min(0).optional().describe("Records not yet processed, summed over partitions."),
  processed: z.int().min(0).optional().describe("Events consumed since the workers started."),
  embedded: z.int().min(0).optional().describe("Events whose text was embedded and written."),
  skippedUnchanged: z
    .int()
    .min(0)
    .optional()
    .describe("Events skipped because their text hash was unchanged."),
  deleted: z.int().min(0).optional().describe("Delete events applied to the store."),
  deadLettered: z
    .int()
    .min(0)
    .optional()
    .describe(
      "Events dead-lettered instead of embedded: undecodable, no id or fields, an event time ahead, a Debezium unavailable value, or a text the embedding server refused (the code is in the record's headers).",
    ),
  freshnessP95Ms: z
    .number()
    .min(0)
    .optional()
    .describe("95th percentile of event time to vector written, in milliseconds, over the last minute."),
  sourceRecordsLost: z
    .int()
    .min(0)
    .optional()
    .describe(
      "Source records Kafka retention deleted before the workers read them (or before a store replay could read them again): their changes are not in the store. A running total for the version, kept across worker restarts, scale-downs and operator restarts (see lossReads). Absent while none.",
    ),
  storeReplays: storeReplayCounts
    .optional()
    .describe(
      "The store lost acknowledged writes (a restart without persistence, a replica promoted behind) and the workers replayed from its recorded offsets: running totals for the version, kept across worker restarts, scale-downs and operator restarts (see lossReads). Absent while none.",
    ),
  lossReads: z
    .array(lossRead)
    .max(maxLossReads)
    .meta({ "x-kubernetes-list-type": "atomic" })
    .optional()
    .describe(
      `The operator's bookkeeping behind sourceRecordsLost and storeReplays: each worker process that reported a loss, with its counters as last read (all counted in those totals). An operator restarted, or a new leader, adds only what a process reports beyond them, and all that a restarted or new one reports. Written with the totals, absent while there are none; absent too in a status written before this field or past ${maxLossReads} processes, and then a restarted operator counts only the workers' sum above the totals.`,
    ),
});

/** Observed state of a NearlinePipeline. */
export const nearlinePipelineStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions
      .optional()
      .describe(
        "Ready, Reconciling and Stalled (kstatus), plus CaughtUp: True when every live version's workers reported their lag and have nothing left to read or a freshness p95 within the model's spec.promotion.maxLagSeconds (the rule of the model's CaughtUp gate); False (CatchingUp) naming the versions behind; Unknown while a version's workers have not reported (WaitingForWorkers) or none are measured (NotMeasured).",
      ),
    activeVersion: dnsLabel()
      .optional()
      .describe(
        "The model's active version, whose lag the LAG column shows; absent before its first cutover.",
      ),
    lag: z
      .int()
      .min(0)
      .optional()
      .describe(
        "Lag, in records, of the active version's workers (before the first cutover, of the first version's).",
      ),
    versions: listMap(z.array(pipelineVersionStatus).max(16), ["version"])
      .optional()
      .describe("Counters per live embedding version."),
  })
  .describe("Observed state, written by the operator.");

/** A whole NearlinePipeline object. */
export const nearlinePipelineSchema = resourceSchema(
  "NearlinePipeline",
  nearlinePipelineSpec,
  nearlinePipelineStatus,
);

/** A NearlinePipeline as controllers see it: validated, with every default filled in. */
export type NearlinePipeline = z.output<typeof nearlinePipelineSchema>;
/** A NearlinePipeline as users write it (defaults optional). */
export type NearlinePipelineInput = z.input<typeof nearlinePipelineSchema>;
export type NearlinePipelineSpec = z.output<typeof nearlinePipelineSpec>;
export type NearlinePipelineStatus = z.output<typeof nearlinePipelineStatus>;
export type PipelineVersionStatus = z.output<typeof pipelineVersionStatus>;
export type PipelineLossRead = z.output<typeof lossRead>;

/** Condition types a NearlinePipeline reports. */
export const nearlinePipelineConditionTypes = ["Ready", "Reconciling", "Stalled", "CaughtUp"] as const;

/** Validates and defaults a NearlinePipeline; throws InvalidResourceError naming each bad field. */
export function parseNearlinePipeline(value: unknown): NearlinePipeline {
  return parseResource(nearlinePipelineSchema, "NearlinePipeline", value);
}

/** Like parseNearlinePipeline, returning the error instead of throwing. */
export function safeParseNearlinePipeline(
  value: unknown,
  options?: ParseOptions,
): ParseResult<NearlinePipeline> {
  return safeParseResource(nearlinePipelineSchema, "NearlinePipeline", value, options);
}

/** CRD generation input for NearlinePipeline. */
export const nearlinePipelineKind: KindDefinition = {
  kind: "NearlinePipeline",
  plural: "nearlinepipelines",
  singular: "nearlinepipeline",
  shortNames: ["nlp"],
  description:
    "NearlinePipeline consumes an entity's Kafka changelog and keeps every live version of an EmbeddingModel up to date: decode, extract fields, render the prompt, skip unchanged texts, embed, and write to the store and to Kafka.",
  spec: nearlinePipelineSpec,
  status: nearlinePipelineStatus,
  printerColumns: [
    {
      name: "Model",
      type: "string",
      jsonPath: ".spec.modelRef.name",
      description: "The EmbeddingModel fed.",
    },
    { name: "Entity", type: "string", jsonPath: ".spec.entity", description: "The entity of the changelog." },
    { name: "Lag", type: "integer", jsonPath: ".status.lag", description: "Records behind, active version." },
    {
      name: "Ready",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: "Whether every live version's workers run.",
    },
    {
      name: "Topic",
      type: "string",
      jsonPath: ".spec.source.kafka.topic",
      description: "Source topic.",
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
  selectableFields: [".spec.modelRef.name", ".spec.entity"],
  source: "crds/nearline-pipeline.ts",
};

// EmbeddingModel: one embedding model, served per version, with its prompt templates and the policy
// for promoting a new version (DESIGN.md section 4). Changing spec.version starts a promotion.
import { z } from "zod";
import { dnsLabel, secretKeyRef } from "./common.ts";
import { serving } from "./embedding-model-serving.ts";
import { embeddingModelStatus } from "./embedding-model-status.ts";
import { celRegex, keysMatching, mapOf, withRules } from "./kube.ts";
import {
  artifactUriPattern,
  credentialQueryPattern,
  dnsLabelPattern,
  promptTemplatePattern,
  sha256Pattern,
} from "./patterns.ts";
import {
  parseResource,
  readyMessageColumn,
  resourceSchema,
  safeParseResource,
  type KindDefinition,
  type ParseOptions,
  type ParseResult,
} from "./resource.ts";

/** The model artifact and how its output becomes one vector. */
export const modelArtifact = withRules(
  z.strictObject({
    uri: z
      .string()
      .max(2048)
      .regex(
        artifactUriPattern,
        "must be an https://host/path (no user:password@; put a URL with credentials in uriSecretRef), file:///path or pvc://claim/path URI",
      )
      .describe(
        "Where the ONNX model file is fetched from: https://host/path, file:///path (in the image or mounted) or pvc://claim/path (a PersistentVolumeClaim in this namespace). It is copied into pod args, ConfigMaps and status, so it must carry no credentials: for a signed URL, set uriSecretRef and give here the same URL without its query.",
      ),
    uriSecretRef: secretKeyRef
      .optional()
      .describe(
        "A Secret key holding the full https:// URL to download the model from, credentials included (a pre-signed S3 or GCS URL, an Azure SAS URL). Only the pods' fetch-model init container reads it, from an environment variable; uri then names the same artifact without credentials (for records, messages and the archive check). The Secret is read at each pod start, so a re-signed URL applies to new pods without a new version. Requires an https:// uri and sha256.",
      ),
    sha256: z
      .string()
      .regex(sha256Pattern, "must be 64 lower-case hex digits")
      .optional()
      .describe(
        "Lower-case hex SHA-256 of the model file; verified after download. Required for https:// URIs, and for a model that NearlinePipelines or BootstrapRuns feed: their workers refuse vectors from a server of another digest, and the operator does not hash model files, so without it they are Stalled with reason ModelDigestUnknown, and so is the EmbeddingModel while it promotes that version (its active version keeps serving; set sha256 together with a new version).",
      ),
    tokenizerUri: z
      .string()
      .max(2048)
      .regex(
        artifactUriPattern,
        "must be an https://host/path (no user:password@), file:///path or pvc://claim/path URI",
      )
      .optional()
      .describe(
        "Where tokenizer.json is read from: file:///path or pvc://claim/path (an https:// tokenizer has no checksum to verify it and stalls the model; ship it in a model archive instead). Defaults to tokenizer.json beside the model.",
      ),
    dimensions: z.int().min(1).max(65536).describe("Length of each embedding vector the model produces."),
    pooling: z
      .enum(["mean", "cls", "last-token"])
      .default("mean")
      .describe(
        "How token states become one vector: mean over tokens, the CLS token, or the last token (decoder models).",
      ),
    normalize: z
      .boolean()
      .default(true)
      .describe("L2-normalise vectors so a dot product is the cosine similarity."),
    maxSequenceLength: z
      .int()
      .min(1)
      .max(131072)
      .default(512)
      .describe("Tokens per text; longer texts are truncated. Keep within the model's position limit."),
    precision: z
      .enum(["fp32", "fp16", "int8"])
      .default("fp32")
      .describe("Numeric precision the model runs in; int8 means a quantized model file."),
  }),
  [
    {
      rule: "!self.uri.startsWith('https://') || has(self.sha256)",
      message: "sha256 is required when uri is https:// so a download is verified before it serves",
      field: "sha256",
      reason: "FieldValueRequired",
      holds: (self) => !self.uri.startsWith("https://") || self.sha256 !== undefined,
    },
    {
      rule: `!self.uri.lowerAscii().matches(${celRegex(credentialQueryPattern)})`,
      message:
        "uri carries a credential in its query (a signature, token or key): it would be copied into pod args and ConfigMaps; put the full URL in a Secret, name it in uriSecretRef, and give uri without its query",
      field: "uri",
      holds: (self) => !credentialQueryPattern.test(self.uri.toLowerCase()),
    },
    {
      rule: `!has(self.tokenizerUri) || !self.tokenizerUri.lowerAscii().matches(${celRegex(credentialQueryPattern)})`,
      message:
        "tokenizerUri carries a credential in its query (a signature, token or key): it would be copied into ConfigMaps and status; ship the tokenizer in a model archive fetched through uriSecretRef",
      field: "tokenizerUri",
      holds: (self) =>
        self.tokenizerUri === undefined || !credentialQueryPattern.test(self.tokenizerUri.toLowerCase()),
    },
    {
      rule: "!has(self.uriSecretRef) || self.uri.startsWith('https://')",
      message: "uriSecretRef applies only to an https:// uri: give uri as the URL without its credentials",
      field: "uriSecretRef",
      reason: "FieldValueForbidden",
      holds: (self) => self.uriSecretRef === undefined || self.uri.startsWith("https://"),
    },
  ],
);

/** One prompt template; the serving and pipeline configs take theirs from here too. */
export const promptTemplate = z
  .string()
  .min(1)
  .max(8192)
  .regex(promptTemplatePattern, "braces may appear only as {{field}} placeholders");

/** Prompt templates per entity, e.g. {job: "Job title: {{title}} ..."}. */
export const prompts = keysMatching(
  mapOf(promptTemplate, { min: 1, max: 32 }),
  dnsLabelPattern,
  63,
  "an entity name (a DNS label such as member-profile)",
);

/** Promotion policy: when a new version may take over from the active one. */
export const promotion = withRules(
  z.strictObject({
    cutover: z
      .enum(["Automatic", "Manual"])
      .default("Automatic")
      .describe(
        "Automatic switches readers to the new version as soon as every gate passes; Manual waits until approvedVersion names it. A rollback (spec.version back to a Draining or Retained version readers already used) needs no approval either way.",
      ),
    approvedVersion: dnsLabel()
      .optional()
      .describe(
        "With cutover Manual: the version approved for cutover. When it equals spec.version and the gates pass, readers switch. Not needed to roll back to a version readers already used. Commit it to Git like any other change.",
      ),
    minCoverage: z
      .number()
      .min(0)
      .max(1)
      .default(0.99)
      .describe(
        "Gate: fraction of the active version's keys the new version must hold before cutover (0 to 1).",
      ),
    maxLagSeconds: z
      .int()
      .min(0)
      .max(86400)
      .default(30)
      .describe("Gate: the new version's nearline workers must be at most this far behind the changelog."),
    bakeSeconds: z
      .int()
      .min(0)
      .max(604800)
      .default(600)
      .describe("How long the previous version stays served after cutover, so a rollback is instant."),
    progressDeadlineSeconds: z
      .int()
      .min(1)
      .max(604800)
      .default(3600)
      .describe(
        "A promotion whose gates are not all open this long after it started is reported Stalled (reason PromotionDeadlineExceeded, naming the shut gate and its value); the active version keeps serving and the promotion continues if the gate opens later. The wait for approvedVersion (cutover Manual) does not count: a gate that shuts after every gate passed starts a new window from then.",
      ),
    retainVersions: z
      .int()
      .min(0)
      .max(10)
      .default(1)
      .describe(
        "Previous versions whose vectors are kept for rollback after their bake period; older ones are deleted from the store. The version readers left last (the store pointer's backup) is always kept, so 0 still keeps one previous version until the next cutover.",
      ),
  }),
  [
    {
      rule: "!has(self.approvedVersion) || self.cutover == 'Manual'",
      message: "approvedVersion applies only to cutover Manual",
      field: "approvedVersion",
      reason: "FieldValueForbidden",
      holds: (self) => self.approvedVersion === undefined || self.cutover === "Manual",
    },
  ],
);

/** Desired state of an EmbeddingModel. */
export const embeddingModelSpec = withRules(
  z.strictObject({
    version: dnsLabel().describe(
      "Name of the embedding version to serve, a DNS label such as minilm-v2. Changing it starts a promotion: the new version is served, bootstrapped and caught up beside the active one, then readers switch. Setting it back to a retained version rolls back at once.",
    ),
    model: modelArtifact.describe("The model artifact of this version and how it produces vectors."),
    prompts: prompts.describe(
      "Prompt template per entity (job, member-profile, resume, ...). {{field}} placeholders are filled from the fields a NearlinePipeline extracts; braces may appear only as placeholders.",
    ),
    serving: serving
      .prefault({})
      .describe(
        "How each version's gRPC embedding server runs. A version keeps the settings it was promoted with (its record) once spec.version moves on, except its capacity: replicas and autoscaling apply to every served version at once.",
      ),
    promotion: promotion
      .prefault({})
      .describe("Gates and timing of switching readers from the active version to a new one."),
  }),
  [
    {
      rule: "self.serving.batching.maxBatchTokens >= self.model.maxSequenceLength",
      message:
        "serving.batching.maxBatchTokens must be at least model.maxSequenceLength, or a long text can never be batched",
      field: "serving.batching.maxBatchTokens",
      holds: (self) => self.serving.batching.maxBatchTokens >= self.model.maxSequenceLength,
    },
    {
      rule: "self.version != oldSelf.version || self.model == oldSelf.model",
      message:
        "model can change only together with version: new weights make vectors of a new embedding version",
      field: "model",
    },
    {
      rule: "self.version != oldSelf.version || self.prompts == oldSelf.prompts",
      message:
        "prompts can change only together with version: a new template makes vectors of a new embedding version",
      field: "prompts",
    },
  ],
).describe("Desired state: the model, its prompts, how it is served and how new versions are promoted.");

/** A whole EmbeddingModel object. */
export const embeddingModelSchema = resourceSchema(
  "EmbeddingModel",
  embeddingModelSpec,
  embeddingModelStatus,
);

/** An EmbeddingModel as controllers see it: validated, with every default filled in. */
export type EmbeddingModel = z.output<typeof embeddingModelSchema>;
/** An EmbeddingModel as users write it (defaults optional). */
export type EmbeddingModelInput = z.input<typeof embeddingModelSchema>;
export type EmbeddingModelSpec = z.output<typeof embeddingModelSpec>;

/** Validates and defaults an EmbeddingModel; throws InvalidResourceError naming each bad field. */
export function parseEmbeddingModel(value: unknown): EmbeddingModel {
  return parseResource(embeddingModelSchema, "EmbeddingModel", value);
}

/** Like parseEmbeddingModel, returning the error instead of throwing. */
export function safeParseEmbeddingModel(value: unknown, options?: ParseOptions): ParseResult<EmbeddingModel> {
  return safeParseResource(embeddingModelSchema, "EmbeddingModel", value, options);
}

/** CRD generation input for EmbeddingModel. */
export const embeddingModelKind: KindDefinition = {
  kind: "EmbeddingModel",
  plural: "embeddingmodels",
  singular: "embeddingmodel",
  shortNames: ["em"],
  description:
    "EmbeddingModel serves a text-embedding model per embedding version (a Deployment of gRPC embedding servers each) and promotes a new version, gated on serving readiness, bootstrap, nearline lag and coverage, by switching readers atomically when spec.version changes.",
  spec: embeddingModelSpec,
  status: embeddingModelStatus,
  printerColumns: [
    { name: "Version", type: "string", jsonPath: ".spec.version", description: "Desired embedding version." },
    {
      name: "Active",
      type: "string",
      jsonPath: ".status.activeVersion",
      description: "Version readers use now.",
    },
    {
      name: "Ready",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: "Whether the desired version is active and serving.",
    },
    {
      name: "Cutover",
      type: "string",
      jsonPath: ".spec.promotion.cutover",
      description: "Automatic or Manual cutover.",
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
  source: "crds/embedding-model.ts",
};

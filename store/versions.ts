/**
 * The version registry `{P}:versions`: one JSON entry per embedding version with its lifecycle state.
 *
 * building -> complete -> deleting -> (gone). A version is `building` from registration until its
 * bootstrap finishes; only a `complete` version can become current (flip or rollback); `deleting` is
 * set by garbage collection and is final. The flip and GC scripts read this registry in the same
 * atomic step as the pointer, which is why it lives in the control slot.
 */

import { createHash } from "node:crypto";
import { z } from "zod";
import type { VectorDtype } from "./codec.ts";
import { assertDtype, assertModelDigest, MAX_DIMENSION } from "./codec.ts";
import { runControl } from "./control.ts";
import { StoreError, StoreErrorCodes, invalidArgument } from "./errors.ts";
import { assertVersion } from "./layout.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/** Lifecycle state of a version, as this release writes them. */
export type VersionState = "building" | "complete" | "deleting";

const knownStates: ReadonlySet<string> = new Set<VersionState>(["building", "complete", "deleting"]);

/**
 * Whether this release knows `state`. A newer release may add one; after a downgrade its entries are
 * read as written and taken for what this release can tell of them: not complete (no flip or
 * rollback to it, no reads served from it), and not to be changed (the scripts mark only a building
 * version complete, only a building or complete one deleting) nor collected.
 */
export function isKnownVersionState(state: string | undefined): state is VersionState {
  return state !== undefined && knownStates.has(state);
}

const versionInfoSchema = z.object({
  version: z.string(),
  /** A VersionState, or a state of a newer release kept as written (isKnownVersionState). */
  state: z.string().min(1),
  modelDigest: z.string(),
  dtype: z.enum(["f32", "f16"]),
  dimension: z.number().int().positive(),
  createdAtMs: z.number(),
  completedAtMs: z.number().optional(),
  gcNextBucket: z.number().int().nonnegative().optional(),
  /**
   * `sha256:<hex>` of the prompt template per entity the version's vectors were made with, as its
   * writers registered them. Absent in an entry an older release's writer registered, until a newer
   * writer registers it (adding its entity's template).
   */
  prompts: z.record(z.string(), z.string()).optional(),
  /**
   * The settings besides the model file and templates that make its vectors (`VectorSettings`:
   * pooling, normalize, maxSequenceLength, precision), by name, as its writers registered them. Absent
   * in an entry an older release's writer registered, until a newer writer registers it. Read as a
   * plain map, so that a setting a later release adds is kept and compared by those that know it.
   */
  vectorSettings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/** One registry entry. */
export type VersionInfo = z.infer<typeof versionInfoSchema>;

/**
 * How a model's output becomes the vector, besides the model file (its digest) and the prompt
 * template: EmbeddingModel spec.model's pooling, normalize, maxSequenceLength (longer texts are
 * truncated) and precision (for a model archive, which file of it runs: the archive's digest is the
 * same for each). Two versions differing in any of these make different vectors from the same text.
 */
export type VectorSettings = {
  readonly pooling: "mean" | "cls" | "last-token";
  readonly normalize: boolean;
  readonly maxSequenceLength: number;
  readonly precision: "fp32" | "fp16" | "int8";
};

/**
 * The one place that says which of a model's settings define its vectors: picks them from an
 * EmbeddingModel's spec.model (or a worker's model section), dropping everything else. The operator
 * renders them into the worker and shard configs, which register them; the operator checks its spec
 * against what they registered.
 */
export function vectorSettingsOf(model: VectorSettings): VectorSettings {
  return {
    pooling: model.pooling,
    normalize: model.normalize,
    maxSequenceLength: model.maxSequenceLength,
    precision: model.precision,
  };
}

/** What a version is made of; fixed at registration. */
export interface VersionSpec {
  readonly modelDigest: string;
  readonly dimension: number;
  readonly dtype?: VectorDtype;
  /** The prompt template per entity this writer embeds with (recorded as their digests). */
  readonly prompts?: Readonly<Record<string, string>>;
  /** The model's vector settings this writer's server computes with (absent: not told, not checked). */
  readonly vectorSettings?: VectorSettings | undefined;
}

/** How the registry records a prompt template: `sha256:<hex>` of its text. */
export function promptDigest(template: string): string {
  return `sha256:${createHash("sha256").update(template).digest("hex")}`;
}

/**
 * What makes `spec` another definition of the version than its registry entry records, in words
 * ("model sha256:a, not this spec's sha256:b, and pooling mean, not this spec's cls, and prompt
 * template sha256:c for entity job, not this spec's sha256:d" with `whose` "this spec's "), or
 * undefined when nothing recorded differs. Only what the entry records is compared: a template of an
 * entity it has none for, a setting it has none of, or any template or vector setting against an entry
 * an older writer registered (no `prompts`, no `vectorSettings`), is taken as it is.
 */
export function describeRedefinition(
  info: Pick<VersionInfo, "modelDigest" | "prompts" | "vectorSettings">,
  spec: {
    readonly modelDigest?: string | undefined;
    readonly prompts?: Readonly<Record<string, string>>;
    readonly vectorSettings?: VectorSettings | undefined;
  },
  whose = "",
): string | undefined {
  const differences: string[] = [];
  if (spec.modelDigest !== undefined && spec.modelDigest !== info.modelDigest)
    differences.push(`model ${info.modelDigest}, not ${whose}${spec.modelDigest}`);
  for (const [name, value] of Object.entries(spec.vectorSettings ?? {})) {
    const recorded = info.vectorSettings?.[name];
    if (recorded !== undefined && recorded !== value)
      differences.push(`${name} ${String(recorded)}, not ${whose}${String(value)}`);
  }
  for (const [entity, template] of Object.entries(spec.prompts ?? {})) {
    const recorded = info.prompts?.[entity];
    const digest = promptDigest(template);
    if (recorded !== undefined && recorded !== digest)
      differences.push(`prompt template ${recorded} for entity ${entity}, not ${whose}${digest}`);
  }
  return differences.length === 0 ? undefined : differences.join(", and ");
}

/**
 * Registers a version in state `building`. Idempotent: registering again with the same model digest,
 * vector settings and prompt templates returns the existing entry (adding the templates of entities it
 * has none for, and the vector settings when it has none, also to an entry an older release registered
 * without them); a different digest, setting or template (or a version being deleted) is
 * PRECONDITION_FAILED, its message saying which and what to do.
 */
export async function registerVersion(
  store: Store,
  version: string,
  spec: VersionSpec,
): Promise<VersionInfo> {
  assertVersion(version);
  assertModelDigest(spec.modelDigest);
  const dtype = spec.dtype ?? "f32";
  assertDtype(dtype);
  if (!Number.isInteger(spec.dimension) || spec.dimension < 1 || spec.dimension > MAX_DIMENSION) {
    throw invalidArgument(`dimension must be an integer in 1..${MAX_DIMENSION}`);
  }
  const prompts = Object.fromEntries(
    Object.entries(spec.prompts ?? {}).map(([entity, template]) => [entity, promptDigest(template)]),
  );
  const reply = await runControl(
    store,
    "register version",
    "judeStoreRegisterVersion",
    [
      store.keys.versions,
      version,
      spec.modelDigest,
      dtype,
      spec.dimension,
      JSON.stringify(prompts),
      spec.vectorSettings === undefined ? "" : JSON.stringify(vectorSettingsOf(spec.vectorSettings)),
    ],
    (_status, values) => {
      const text = values[0] ?? "";
      let info: VersionInfo | undefined;
      try {
        info = parseVersionInfo(text);
      } catch {
        return { message: text, details: { values } };
      }
      const why =
        info.state === "deleting"
          ? "it is being deleted"
          : `it was registered with ${describeRedefinition(info, spec, "this writer's ") ?? "another definition"}; its vectors are another definition's: give the EmbeddingModel a new version name`;
      return { message: `version ${version} cannot be written: ${why}`, details: { values, existing: info } };
    },
  );
  return expectInfo(reply, version);
}

/** Marks a registered version complete (its bootstrap finished). Idempotent. */
export async function markVersionComplete(store: Store, version: string): Promise<VersionInfo> {
  assertVersion(version);
  const reply = await runControl(store, "mark version complete", "judeStoreMarkComplete", [
    store.keys.versions,
    version,
  ]);
  return expectInfo(reply, version);
}

/** Reads one registry entry, or null when the version is not registered. */
export async function getVersion(store: Store, version: string): Promise<VersionInfo | null> {
  assertVersion(version);
  let text: string | null;
  try {
    text = await store.client.hget(store.keys.versions, version);
  } catch (error) {
    throw recordFailure(store, "get version", error);
  }
  return text === null ? null : parseVersionInfo(text);
}

/** Reads every registry entry, oldest first. */
export async function listVersions(store: Store): Promise<VersionInfo[]> {
  let entries: Record<string, string>;
  try {
    entries = await store.client.hgetall(store.keys.versions);
  } catch (error) {
    throw recordFailure(store, "list versions", error);
  }
  return Object.values(entries)
    .map(parseVersionInfo)
    .sort((a, b) => a.createdAtMs - b.createdAtMs || a.version.localeCompare(b.version));
}

/** Parses a registry entry; CORRUPT_RECORD when it is not what this package writes. */
export function parseVersionInfo(text: string): VersionInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new StoreError(StoreErrorCodes.CORRUPT_RECORD, "version registry entry is not JSON", { cause });
  }
  const result = versionInfoSchema.safeParse(parsed);
  if (!result.success) {
    throw new StoreError(
      StoreErrorCodes.CORRUPT_RECORD,
      `version registry entry is malformed: ${result.error.message}`,
    );
  }
  return result.data;
}

function expectInfo(reply: { values: string[] }, version: string): VersionInfo {
  const text = reply.values[0];
  if (text === undefined)
    throw new StoreError(StoreErrorCodes.INTERNAL, `no registry entry returned for ${version}`);
  return parseVersionInfo(text);
}

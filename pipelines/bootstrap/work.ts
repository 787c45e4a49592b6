/**
 * What a shard's work is, derived from its config: how records become snapshot entities (the same
 * decode / extract / prompt / hash code as nearline, plus scope and id ownership), and a fingerprint
 * of everything that defines the work, so a checkpoint is only resumed by the same work.
 */
import { createHash } from "node:crypto";
import { createDecoder } from "../shared/decode.ts";
import { createEntityTextRenderer } from "../shared/entity-text.ts";
import type { BootstrapConfig } from "./config.ts";
import { filesOfShard, ownsEntity } from "./sharding.ts";
import type { RecordInterpreter } from "./source-units.ts";

/** Builds the record interpreter of a shard. */
export function createInterpreter(config: BootstrapConfig): RecordInterpreter {
  const render = createEntityTextRenderer({
    extract: config.extract,
    template: config.model.template,
    modelVersion: config.model.version,
  });
  const ids = config.scope.ids !== undefined ? new Set(config.scope.ids) : undefined;
  const from = config.scope.eventTimeFrom !== undefined ? Date.parse(config.scope.eventTimeFrom) : -Infinity;
  const to = config.scope.eventTimeTo !== undefined ? Date.parse(config.scope.eventTimeTo) : Infinity;
  const files = config.source.files;
  const { count, index } = config.shards;
  // Under the `id` file split every shard reads every line and keeps only its own ids.
  const byId = files !== undefined && filesOfShard(files.uris, files.split, count, index).split === "id";
  return {
    decode: createDecoder(config.decode),
    render,
    emptyText: render({}).text,
    // A delete after the window is kept all the same. Scope applies to each key's latest state, and a
    // key whose latest record deletes it after the window is out of it, but a shard sees one
    // partition's records (a file's rows) at a time: the key's update inside the window may come from
    // another partition (the one the producer used before partitions were added) or an earlier row,
    // and would be written alone, bringing back an entity its newest record deletes. Its conditional
    // tombstone makes the store refuse that older update, whatever the order; it embeds nothing and
    // only leaves the key as its newest record says. (A delete before the window needs no such
    // fence: every record of the key inside it is newer and wins.)
    keep: (id, eventTimeMs, op = "upsert") =>
      (ids === undefined || ids.has(id)) &&
      eventTimeMs >= from &&
      (eventTimeMs < to || op === "delete") &&
      (!byId || ownsEntity(config.entity, id, count, index)),
    owns: (id) => !byId || ownsEntity(config.entity, id, count, index),
    countsUndecodable: !byId || index === 0,
  };
}

/**
 * Hash of what defines the shard's work: the run object (its uid), entity, model (version, digest,
 * template), decode and extract rules, the source (topic and configured watermarks, or files and split),
 * shard count and index, scope, dedupe and the store. Watermarks the shard captured itself are not part
 * of it: they are in the checkpoint and stay fixed across restarts. The uid matters for files: a dump
 * rewritten at the same URIs and loaded by a run deleted and created again is the same definition
 * otherwise, and the new run would finish on the old run's `done` checkpoints without reading it.
 */
export function workFingerprint(config: BootstrapConfig, storePrefix: string): string {
  const kafka = config.source.kafka;
  const files = config.source.files;
  const source =
    kafka !== undefined
      ? { topic: kafka.topic, watermarks: kafka.watermarks ?? null }
      : { uris: files!.uris, split: files!.split };
  const definition = {
    // Absent (a config without uid) leaves the fingerprint as it was before the uid existed.
    run: config.run.uid,
    entity: config.entity,
    model: config.model,
    decode: config.decode,
    extract: config.extract,
    source,
    shards: config.shards,
    scope: config.scope,
    dedupe: config.dedupe,
    store: storePrefix,
  };
  return createHash("sha256").update(stableJson(definition)).digest("hex").slice(0, 32);
}

/** JSON with object keys sorted, so the fingerprint does not depend on key order in the file. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, each]) => each !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, each]) => `${JSON.stringify(key)}:${stableJson(each)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

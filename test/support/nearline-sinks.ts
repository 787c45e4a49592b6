/**
 * The end-state check of nearline fault tests: once every changelog record is committed, the store
 * holds exactly the expected final state and the output topic holds every applied change (duplicates
 * allowed; of a key the producer moved across partitions, the changes the worker's read order
 * published: nearline-oracle.ts; nothing else), each record valid against the published JSON schema
 * and carrying the embedding of the independently rendered text.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { expect } from "vitest";
import type { OutputRecordValue } from "../../pipelines/nearline/output-schema.ts";
import { outputRecordKey } from "../../pipelines/nearline/records.ts";
import type { EmbeddingClient } from "../../pipelines/embedding-client/client.ts";
import type { Store } from "../../store/index.ts";
import { cosine } from "../integration/serving/helpers.ts";
import { repoRoot } from "../testbed/paths.ts";
import { waitFor } from "../testbed/wait.ts";
import { committedOffsets, readAll, recordCount, type ReadRecord } from "./kafka.ts";
import { expectStoreMatches } from "./nearline.ts";
import { expectedChanges, jobTemplate, type ExpectedChange } from "./nearline-oracle.ts";

const validateRecord = new Ajv({ strict: false }).compile(
  JSON.parse(readFileSync(join(repoRoot, "pipelines/nearline/output-record.schema.json"), "utf8")),
);

/** Validates output records against pipelines/nearline/output-record.schema.json; returns the values. */
export function schemaValid(records: readonly ReadRecord[]): OutputRecordValue[] {
  return records.map((record) => {
    const value = JSON.parse(record.value!.toString()) as OutputRecordValue;
    expect(validateRecord(value), JSON.stringify(validateRecord.errors)).toBe(true);
    expect(record.key).toBe(outputRecordKey(value, value.id));
    return value;
  });
}

/** What a sinks check saw. */
export interface SinkReport {
  applied: number;
  outputRecords: number;
  duplicates: number;
}

/** Waits until the group committed every record of `topic`, then checks store and output topic. */
export async function expectSinksExact(options: {
  topic: string;
  outputTopic: string;
  group: string;
  store: Store;
  version: string;
  modelDigest: string;
  client: EmbeddingClient;
}): Promise<SinkReport> {
  const total = await recordCount(options.topic);
  await waitFor(
    `group ${options.group} to commit all ${total} records`,
    async () => (await committedOffsets(options.group, options.topic)) === total,
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  const source = (await readAll(options.topic)).map((record) => ({ ...record }));
  const { applied, optional, final } = expectedChanges(source, options.version);
  await expectStoreMatches(options.store, options.version, final);

  const output = await readAll(options.outputTopic);
  const values = schemaValid(output);
  const byPosition = new Map<string, OutputRecordValue>();
  for (const value of values)
    byPosition.set(`${value.id}@${value.source.partition}:${value.source.offset}`, value);
  const positionOf = (change: ExpectedChange) => `${change.id}@${change.partition}:${change.offset}`;
  // Every change of `applied` is published; of `optional` (keys on several partitions), those the
  // worker's read order published; nothing else.
  const published = optional.filter((change) => byPosition.has(positionOf(change)));
  expect([...byPosition.keys()].sort()).toEqual([...applied, ...published].map(positionOf).sort());

  const texts = [
    ...new Set([...applied, ...published].flatMap((change) => (change.text ? [change.text] : []))),
  ];
  const reference = new Map<string, Float32Array>();
  for (let start = 0; start < texts.length; start += 32) {
    const piece = texts.slice(start, start + 32);
    const { vectors } = await options.client.embed(piece);
    piece.forEach((text, index) => reference.set(text, vectors[index]!));
  }
  const templateHash = createHash("sha256").update(jobTemplate).digest("hex").slice(0, 16);
  for (const change of [...applied, ...published]) {
    const value = byPosition.get(positionOf(change))!;
    expect(value).toMatchObject({
      entity: "job",
      op: change.op,
      version: options.version,
      modelDigest: options.modelDigest,
      templateHash,
      eventTime: new Date(change.eventTimeMs).toISOString(),
      dimensions: change.op === "delete" ? 0 : 384,
    });
    if (change.op === "delete") expect(value.vector).toBeNull();
    else {
      const vector = new Float32Array(Uint8Array.from(Buffer.from(value.vector!, "base64")).buffer);
      expect(cosine(vector, reference.get(change.text!)!)).toBeGreaterThan(0.9999);
    }
  }
  return {
    applied: applied.length + published.length,
    outputRecords: output.length,
    duplicates: output.length - byPosition.size,
  };
}

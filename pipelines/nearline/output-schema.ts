/**
 * The output topic's record value as a schema: the contract for offline consumers (point-in-time
 * training joins). `output-record.schema.json` beside this file is generated from it (JSON Schema
 * draft-07, for readers in any language); `output-schema.test.ts` keeps the two equal and checks the
 * records `records.ts` builds, and the nearline integration suite checks records read from Kafka.
 */
import { z } from "zod";

const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);

export const outputRecordValue = z
  .strictObject({
    entity: z.string().min(1).describe("entity type of the pipeline, e.g. job"),
    id: z.string().min(1).describe("entity id; the Kafka record key is <entity>/<version>/<id>"),
    op: z.enum(["upsert", "delete"]),
    version: z.string().min(1).describe("embedding version the vector belongs to"),
    modelDigest: z.string().min(1).describe("sha256:<hex> of the model artifact that computed the vector"),
    templateHash: z
      .string()
      .regex(/^[0-9a-f]{16}$/)
      .describe("first 16 hex digits of sha256(prompt template)"),
    eventTime: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
      .describe(
        "RFC 3339 UTC, milliseconds (finer digits dropped): the change's event time (decode.eventTimePath, else the changelog record's timestamp, always for a tombstone); the output record's own Kafka timestamp is when it was produced",
      ),
    source: z
      .strictObject({
        topic: z.string().min(1),
        partition: z.int().min(0),
        offset: decimal.describe("Kafka offset, decimal string (may exceed 2^53)"),
      })
      .describe(
        "changelog position; with entity, version and id it identifies the record (duplicates after a replay share all four; each version of a promotion writes its own record of one change)",
      ),
    dimensions: z.int().min(0).describe("vector length; 0 for a delete"),
    vector: z
      .string()
      .regex(/^[A-Za-z0-9+/]*={0,2}$/)
      .nullable()
      .describe("base64 of dimensions float32 little-endian values; null for a delete"),
  })
  .describe(
    "value of a jude nearline output record (UTF-8 JSON); key <entity>/<version>/<id>; header jude.version = version",
  );
export type OutputRecordValue = z.infer<typeof outputRecordValue>;

/** The JSON Schema of the value, as committed in output-record.schema.json. */
export function outputRecordJsonSchema(): Record<string, unknown> {
  return {
    $id: "https://jude.dev/schemas/nearline-output-record.json",
    ...z.toJSONSchema(outputRecordValue, { target: "draft-7" }),
  };
}

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { outputRecordJsonSchema } from "./output-schema.ts";
import type { EntityChange } from "../shared/decode.ts";
import { outputRecord, type ConsumedRecord } from "./records.ts";

const schemaFile = join(import.meta.dirname, "output-record.schema.json");
const source: ConsumedRecord = {
  topic: "jobs.changelog",
  partition: 2,
  offset: 9_007_199_254_740_993n,
  timestamp: 0,
  key: null,
  value: null,
};
const identity = {
  entity: "job",
  version: "minilm-v1",
  modelDigest: "sha256:ab",
  templateHash: "0123456789abcdef",
};

describe("output record schema", () => {
  it("is the committed output-record.schema.json (UPDATE_GOLDEN=1 rewrites it)", () => {
    // Compared as data: the committed file is formatted by prettier.
    const generated = outputRecordJsonSchema();
    if (process.env.UPDATE_GOLDEN === "1")
      writeFileSync(schemaFile, `${JSON.stringify(generated, null, 2)}\n`);
    expect(JSON.parse(readFileSync(schemaFile, "utf8"))).toEqual(generated);
  });

  it("accepts the upserts and deletes records.ts builds, and rejects a malformed one", () => {
    const validate = new Ajv({ strict: false }).compile(JSON.parse(readFileSync(schemaFile, "utf8")));
    const build = (change: EntityChange, vector?: Float32Array) =>
      outputRecord("out", identity, source, change, vector);
    const upsert = build(
      { op: "upsert", id: "j1", eventTimeMs: 1_700_000_000_123, document: {} },
      Float32Array.of(0.5, -1),
    );
    const deletion = build({ op: "delete", id: "j1", eventTimeMs: 5 });
    for (const record of [upsert, deletion]) {
      const value = JSON.parse(String(record.value)) as unknown;
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    }
    expect(JSON.parse(String(upsert.value))).toMatchObject({
      dimensions: 2,
      vector: Buffer.from(Float32Array.of(0.5, -1).buffer).toString("base64"),
      source: { offset: "9007199254740993" },
    });
    expect(
      validate({ ...JSON.parse(String(upsert.value)), source: { topic: "t", partition: 0, offset: 7 } }),
    ).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import type { SourceRecord } from "../shared/decode.ts";
import { bootstrapConfigSchema, resolveShardIndex } from "./config.ts";
import type { SourceLine } from "./jsonl-source.ts";
import { fileBatches, kafkaPartitionBatches, type UnitBatch } from "./source-units.ts";
import { createInterpreter } from "./work.ts";

const config = (overrides: Record<string, unknown> = {}) =>
  resolveShardIndex(
    bootstrapConfigSchema.parse({
      run: { name: "r" },
      entity: "job",
      model: { version: "v2", digest: "sha256:d", dimensions: 4, template: "Job: {{title}}" },
      decode: { keyPath: "$.id", delete: { path: "$.op", values: ["d"] } },
      extract: { title: "$.title" },
      embedding: { endpoint: "e:1" },
      store: { name: "s" },
      source: { kafka: { bootstrapServers: ["k:9092"], topic: "t" } },
      shards: { count: 1, index: 0 },
      ...overrides,
    }),
    {},
  );

const record = (offset: number, id: string, value: unknown): SourceRecord => ({
  key: Buffer.from(id),
  value: value === null ? null : Buffer.from(JSON.stringify(value)),
  timestamp: 1_000 + offset,
  partition: 3,
  offset: BigInt(offset),
});

async function collect(batches: AsyncIterable<UnitBatch>): Promise<UnitBatch[]> {
  const all: UnitBatch[] = [];
  for await (const batch of batches) all.push(batch);
  return all;
}

async function* chunks<T>(...parts: T[][]): AsyncGenerator<T[]> {
  for (const part of parts) yield part;
}

describe("kafkaPartitionBatches", () => {
  const records = [
    record(0, "a", { id: "a", title: "Nurse" }),
    record(1, "b", { id: "b", title: "Cook" }),
    record(2, "a", { id: "a", title: "Head nurse" }),
    record(3, "c", { id: "c", title: "Pilot" }),
    record(4, "b", null), // tombstone: b's latest record is a delete
    record(5, "x", "{broken"),
    record(6, "d", { id: "d", op: "d" }), // delete by rule of a key never seen
    record(7, "e", { id: "e", other: 1 }), // none of the extracted fields
  ];

  it("yields the latest record per key in offset order, deletes included, with positions that cover the range", async () => {
    const unit = { start: 0, end: 8, position: 0, done: false };
    const batches = await collect(
      kafkaPartitionBatches(
        chunks(records.slice(0, 3), records.slice(3)),
        unit,
        createInterpreter(config()),
        2,
      ),
    );
    // Deletes are written as tombstones: the key's update may be on another partition, or in the store.
    expect(
      batches.map((batch) => batch.entities.map((entity) => [entity.id, entity.op, entity.offset])),
    ).toEqual([
      [
        ["a", "upsert", 2],
        ["c", "upsert", 3],
      ],
      [
        ["b", "delete", 4],
        ["d", "delete", 6],
      ],
    ]);
    expect(batches[1]!.entities[0]).toEqual({
      op: "delete",
      id: "b",
      partition: 3,
      offset: 4,
      eventTimeMs: 1_004,
      text: null,
    });
    expect(batches[0]!.entities[0]).toMatchObject({
      op: "upsert",
      partition: 3,
      eventTimeMs: 1_002,
      text: { text: "Job: Head nurse" },
    });
    expect(batches.map((batch) => [batch.position, batch.done])).toEqual([
      [4, false],
      [8, true],
    ]);
    // e's only record has none of the extracted fields: counted failed with the broken record. The
    // deletes are counted by the batch writer, from the tombstones it writes.
    expect(batches.map((batch) => batch.counts)).toEqual([
      { processed: 4 },
      { processed: 4, failed: 2, skipped: 0 },
    ]);
    const split = await collect(kafkaPartitionBatches(chunks(records), unit, createInterpreter(config()), 1));
    expect(split.map((batch) => [batch.position, batch.done])).toEqual([
      [3, false],
      [4, false],
      [5, false],
      [8, true],
    ]);
  });

  it("keeps a key's last text when its newest record holds Debezium's TOAST placeholder, as nearline does", async () => {
    const batches = await collect(
      kafkaPartitionBatches(
        chunks([
          record(0, "a", { id: "a", title: "Nurse" }),
          record(1, "a", { id: "a", title: "__debezium_unavailable_value" }),
        ]),
        { start: 0, end: 2, position: 0, done: false },
        createInterpreter(config()),
        10,
      ),
    );
    expect(batches[0]!.entities.map((entity) => [entity.id, entity.text?.text])).toEqual([
      ["a", "Job: Nurse"],
    ]);
    expect(batches[0]!.failures).toEqual([
      {
        code: "UNAVAILABLE_VALUE",
        reason: expect.stringMatching(/REPLICA IDENTITY FULL/),
        partition: 3,
        offset: 1,
        id: "a",
      },
    ]);
  });

  it("keeps a key's last text when its newest record has none of the extracted fields, as nearline does", async () => {
    const unit = { start: 0, end: 4, position: 0, done: false };
    const batches = await collect(
      kafkaPartitionBatches(
        chunks([
          record(0, "a", { id: "a", title: "Nurse" }),
          record(1, "a", { id: "a", other: 1 }), // dead-lettered by nearline: a keeps "Nurse"
          record(2, "b", { id: "b", other: 1 }), // never had a text: not written
          record(3, "a", { id: "a", other: 2 }),
        ]),
        unit,
        createInterpreter(config()),
        10,
      ),
    );
    expect(batches).toHaveLength(1);
    expect(batches[0]!.entities.map((entity) => [entity.id, entity.offset, entity.text?.text])).toEqual([
      ["a", 0, "Job: Nurse"],
    ]);
    expect(batches[0]!.counts).toEqual({ processed: 4, failed: 3, skipped: 0 });
    expect(batches[0]!.failures?.map((failure) => [failure.code, failure.offset, failure.id])).toEqual([
      ["NO_FIELDS", 1, "a"],
      ["NO_FIELDS", 2, "b"],
      ["NO_FIELDS", 3, "a"],
    ]);
    // Out of scope such a record is not counted at all.
    const scoped = await collect(
      kafkaPartitionBatches(
        chunks([record(0, "a", { id: "a", title: "Nurse" }), record(1, "b", { id: "b", other: 1 })]),
        { start: 0, end: 2, position: 0, done: false },
        createInterpreter(config({ scope: { ids: ["a"] } })),
        10,
      ),
    );
    expect(scoped[0]!.counts).toEqual({ processed: 2, failed: 0, skipped: 0 });
  });

  it("resumes after the checkpointed position and leaves out what the scope excludes", async () => {
    const unit = { start: 0, end: 8, position: 3, done: false };
    const scoped = config({ scope: { ids: ["c", "e"] } });
    const batches = await collect(
      kafkaPartitionBatches(chunks(records), unit, createInterpreter(scoped), 10),
    );
    expect(batches).toHaveLength(1);
    expect(batches[0]!.entities.map((entity) => entity.id)).toEqual(["c"]);
    // a (offset 2, out of scope) lies before the position but was never counted: skipped rides on
    // the last batch, which the interrupted attempt never committed. The deletes of b and d are out
    // of scope too.
    expect(batches[0]!.counts).toMatchObject({ processed: 5, skipped: 3 });
    const late = await collect(
      kafkaPartitionBatches(chunks(records), { ...unit, position: 0 }, createInterpreter(scoped), 10),
    );
    expect(late[0]!.counts.skipped).toBe(3); // a, b, d
  });

  it("writes a key's delete after the scope's eventTimeTo, so the key's update inside the window on another partition cannot revive it", async () => {
    // Scope applies to each key's latest state, but a shard sees one partition's: the key's update
    // inside the window may be on another partition (one the producer used before partitions were
    // added). Its delete here, newer than the window, must reach the store as a conditional tombstone
    // to leave the key deleted; an upsert after the window or a delete before it stays left out.
    const windowed = createInterpreter(
      config({
        scope: { eventTimeFrom: new Date(1_002).toISOString(), eventTimeTo: new Date(1_005).toISOString() },
      }),
    );
    const batches = await collect(
      kafkaPartitionBatches(
        chunks([
          record(0, "before", { id: "before", op: "d" }), // deleted before the window
          record(3, "inside", { id: "inside", title: "Nurse" }),
          record(6, "deleted-after", { id: "deleted-after", op: "d" }),
          record(7, "updated-after", { id: "updated-after", title: "Cook" }),
        ]),
        { start: 0, end: 8, position: 0, done: false },
        windowed,
        10,
      ),
    );
    expect(batches.flatMap((batch) => batch.entities.map((entity) => `${entity.op}:${entity.id}`))).toEqual([
      "upsert:inside",
      "delete:deleted-after",
    ]);
    expect(batches.at(-1)!.counts).toMatchObject({ skipped: 2 });
  });

  it("adds up to the same counts whether or not the shard was interrupted", async () => {
    const scoped = createInterpreter(config({ scope: { ids: ["a", "c"] } }));
    const sum = (batches: UnitBatch[]) => {
      const total: Record<string, number> = {};
      for (const batch of batches)
        for (const [name, value] of Object.entries(batch.counts)) total[name] = (total[name] ?? 0) + value;
      return total;
    };
    const unit = { start: 0, end: 8, position: 0, done: false };
    const whole = await collect(kafkaPartitionBatches(chunks(records), unit, scoped, 1));
    expect(whole.length).toBeGreaterThan(1);
    // Interrupted after the first batch was checkpointed; the rerun resumes at its position.
    const resumed = await collect(
      kafkaPartitionBatches(chunks(records), { ...unit, position: whole[0]!.position }, scoped, 1),
    );
    expect(sum([whole[0]!, ...resumed])).toEqual(sum(whole));
    expect(sum(whole)).toEqual({ processed: 8, failed: 1, skipped: 2 }); // b and d: deletes out of scope
  });

  it("says why each record counted failed was not written, and where it is", async () => {
    const unit = { start: 0, end: 8, position: 0, done: false };
    const batches = await collect(
      kafkaPartitionBatches(chunks(records), unit, createInterpreter(config()), 2),
    );
    expect(batches.map((batch) => batch.failures)).toEqual([
      undefined,
      [
        { code: "NOT_AN_OBJECT", reason: expect.stringMatching(/not an object/), partition: 3, offset: 5 },
        { code: "NO_FIELDS", reason: expect.any(String), partition: 3, offset: 7, id: "e" },
      ],
    ]);
    // Counted by code with the failed count, on the partition's last batch.
    expect(batches.map((batch) => batch.failedCodes)).toEqual([
      undefined,
      { NOT_AN_OBJECT: 1, NO_FIELDS: 1 },
    ]);
  });

  it("finishes an empty range with one empty batch", async () => {
    const batches = await collect(
      kafkaPartitionBatches(
        chunks(),
        { start: 5, end: 5, position: 5, done: false },
        createInterpreter(config()),
        10,
      ),
    );
    expect(batches).toEqual([
      { entities: [], position: 5, done: true, counts: { processed: 0, failed: 0, skipped: 0 } },
    ]);
  });
});

describe("fileBatches", () => {
  const line = (value: unknown, end: number): SourceLine => ({
    value: Buffer.from(JSON.stringify(value)),
    end,
  });

  it("writes a delete row after the scope's eventTimeTo, so an update row inside the window cannot revive its key", async () => {
    const files = config({
      decode: { keyPath: "$.id", eventTimePath: "$.at", delete: { path: "$.op", values: ["d"] } },
      source: { files: { uris: ["file:///x.jsonl"] } },
      scope: { eventTimeFrom: new Date(2_000).toISOString(), eventTimeTo: new Date(5_000).toISOString() },
    });
    const lines = [
      line({ id: "1", title: "Nurse", at: 3_000 }, 40),
      line({ id: "1", op: "d", at: 6_000 }, 70), // the key's newest row, after the window
      line({ id: "2", title: "Cook", at: 6_000 }, 100), // an upsert after the window: left out
      line({ id: "3", op: "d", at: 1_000 }, 130), // a delete before the window: left out
    ];
    const batches = await collect(
      fileBatches(
        chunks(lines),
        { start: 0, end: 131, position: 0, done: false },
        createInterpreter(files),
        10,
      ),
    );
    expect(
      batches.flatMap((batch) =>
        batch.entities.map((entity) => `${entity.op}:${entity.id}@${entity.eventTimeMs}`),
      ),
    ).toEqual(["upsert:1@3000", "delete:1@6000"]);
    expect(batches.reduce((sum, batch) => sum + (batch.counts.skipped ?? 0), 0)).toBe(2);
  });

  it("writes rows at their event time (or 0) and offset 0, deletes as tombstones, and moves by bytes", async () => {
    const files = config({
      decode: { keyPath: "$.id", eventTimePath: "$.at", delete: { path: "$.op", values: ["d"] } },
      source: { files: { uris: ["file:///x.jsonl"] } },
    });
    const lines = [
      line({ id: "1", title: "Nurse", at: 5_000 }, 40),
      line({ id: "2", op: "d", at: 6_000 }, 70),
      line({ id: "3", title: "Cook" }, 100), // no event time: refused by the decoder
      { value: Buffer.from("not json"), end: 110 },
      line({ id: "4", title: "Pilot", at: 7_000 }, 150),
    ];
    const batches = await collect(
      fileBatches(
        chunks(lines.slice(0, 2), lines.slice(2)),
        { start: 0, end: 151, position: 0, done: false },
        createInterpreter(files),
        2,
      ),
    );
    expect(
      batches.map((batch) => [
        batch.entities.map(
          (entity) => `${entity.op}:${entity.id}@${entity.eventTimeMs}/${entity.offset}/${entity.partition}`,
        ),
        batch.position,
        batch.done,
      ]),
    ).toEqual([
      [["upsert:1@5000/0/-1", "delete:2@6000/0/-1"], 70, false],
      [["upsert:4@7000/0/-1"], 151, true],
    ]);
    expect(batches.map((batch) => batch.counts)).toEqual([
      { processed: 2, failed: 0, skipped: 0 },
      { processed: 3, failed: 2, skipped: 0 },
    ]);
  });

  it("counts a line over the cap failed with LINE_TOO_LONG and goes on with the next", async () => {
    const files = config({
      decode: { keyPath: "$.id" },
      source: { files: { uris: ["file:///x.jsonl"] } },
    });
    const batches = await collect(
      fileBatches(
        chunks([
          { value: Buffer.alloc(0), end: 40_000_001, tooLong: 40_000_000 },
          line({ id: "1", title: "Nurse" }, 40_000_050),
        ]),
        { start: 0, end: 40_000_050, position: 0, done: false },
        createInterpreter(files),
        10,
      ),
    );
    expect(batches.map((batch) => batch.entities.map((entity) => entity.id))).toEqual([["1"]]);
    expect(batches[0]!.counts).toEqual({ processed: 2, failed: 1, skipped: 0 });
    expect(batches[0]!.failures).toEqual([
      {
        code: "LINE_TOO_LONG",
        reason:
          "a line of 40000000 bytes is longer than 16777216 (files must be JSON Lines: one record per line)",
        lineEnd: 40_000_001,
      },
    ]);
  });

  it("keeps only this shard's ids when every shard reads every file", async () => {
    const uris = ["file:///only.jsonl"];
    const lines = Array.from({ length: 40 }, (_, index) =>
      line({ id: String(index), title: "T" }, (index + 1) * 10),
    );
    const kept = await Promise.all(
      [0, 1, 2].map(async (index) => {
        const shard = config({ source: { files: { uris } }, shards: { count: 3, index } });
        const batches = await collect(
          fileBatches(chunks(lines), { start: 0, position: 0, done: false }, createInterpreter(shard), 100),
        );
        return batches.flatMap((batch) => batch.entities.map((entity) => entity.id));
      }),
    );
    expect(kept.flat().sort()).toEqual(lines.map((_, index) => String(index)).sort());
    expect(kept.every((ids) => ids.length > 0)).toBe(true);
  });

  it("counts each line on its owner's shard only under the id split, so the shards add up to the file", async () => {
    const uris = ["file:///only.jsonl"];
    const lines = [
      ...Array.from({ length: 40 }, (_, index) => line({ id: String(index), title: "T" }, (index + 1) * 10)),
      { value: Buffer.from("{broken"), end: 410 },
    ];
    const counts = await Promise.all(
      [0, 1, 2].map(async (index) => {
        // A scope that leaves out ids 0-9: skipped, on the shard that owns each of them.
        const ids = Array.from({ length: 30 }, (_, id) => String(id + 10));
        const shard = config({ source: { files: { uris } }, shards: { count: 3, index }, scope: { ids } });
        const batches = await collect(
          fileBatches(chunks(lines), { start: 0, position: 0, done: false }, createInterpreter(shard), 100),
        );
        const sum = (key: "processed" | "skipped" | "failed") =>
          batches.reduce((total, batch) => total + (batch.counts[key] ?? 0), 0);
        return { processed: sum("processed"), skipped: sum("skipped"), failed: sum("failed") };
      }),
    );
    expect(counts.reduce((total, each) => total + each.processed, 0)).toBe(41);
    expect(counts.reduce((total, each) => total + each.skipped, 0)).toBe(10);
    expect(counts.reduce((total, each) => total + each.failed, 0)).toBe(1);
    expect(counts.every((each) => each.processed < 41)).toBe(true);
  });

  it("says why lines are not written: undecodable, or none of the fields", async () => {
    const files = config({ source: { files: { uris: ["file:///x.jsonl"] } } });
    const lines = [
      { value: Buffer.from("{broken"), end: 8 },
      line({ title: "No id" }, 30),
      line({ id: "1", other: 1 }, 50),
      line({ id: "2", title: "Cook" }, 80),
    ];
    const batches = await collect(
      fileBatches(chunks(lines), { start: 0, position: 0, done: false }, createInterpreter(files), 10),
    );
    expect(batches.flatMap((batch) => batch.failures ?? [])).toEqual([
      { code: "INVALID_JSON", reason: expect.any(String), lineEnd: 8 },
      { code: "MISSING_ID", reason: expect.any(String), lineEnd: 30 },
      { code: "NO_FIELDS", reason: expect.any(String), lineEnd: 50, id: "1" },
    ]);
    // Two decode failures here; the entity without fields is counted by the batch writer, by its code.
    expect(batches.reduce((sum, batch) => sum + (batch.counts.failed ?? 0), 0)).toBe(2);
    expect(batches.map((batch) => batch.failedCodes)).toEqual([{ INVALID_JSON: 1, MISSING_ID: 1 }]);
    expect(batches.flatMap((batch) => batch.entities.map((each) => each.failedCode))).toEqual([
      "NO_FIELDS",
      undefined,
    ]);
  });

  it("counts a line without a readable id once per run under the id split, not once per shard", async () => {
    const uris = ["file:///only.jsonl"];
    const lines = [{ value: Buffer.from("{broken"), end: 8 }, line({ id: "1", title: "T" }, 30)];
    const failed = await Promise.all(
      [0, 1, 2].map(async (index) => {
        const shard = config({ source: { files: { uris } }, shards: { count: 3, index } });
        const batches = await collect(
          fileBatches(chunks(lines), { start: 0, position: 0, done: false }, createInterpreter(shard), 10),
        );
        return batches.reduce((sum, batch) => sum + (batch.counts.failed ?? 0), 0);
      }),
    );
    expect(failed).toEqual([1, 0, 0]);
  });
});

import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { memoryStore } from "../../test/support/memory-entity-store.ts";
import { createProcessor, type ConsumedRecord, type ProcessorOptions } from "./processor.ts";
import { jobProcessorOptions } from "./processor.test-data.ts";
import type { OutputRecord } from "./records.ts";
import type { StoreWrite } from "../../store/index.ts";

let offset = 0n;
/** A changelog record of a job; `value` null is a tombstone. */
function record(id: string, time: number, value: Record<string, unknown> | string | null): ConsumedRecord {
  const body =
    value === null ? null : typeof value === "string" ? value : JSON.stringify({ id, time, ...value });
  return {
    topic: "jobs",
    partition: 0,
    offset: offset++,
    timestamp: 5_000_000,
    key: Buffer.from(id),
    value: body === null ? null : Buffer.from(body),
  };
}

function setup(overrides: Partial<ProcessorOptions> = {}) {
  const store = memoryStore();
  const embedded: string[][] = [];
  const produced: OutputRecord[] = [];
  const deadLettered: string[] = [];
  /** The key onDeadLetter was given with each dead letter (undefined: the event named none). */
  const deadLetterKeys: Array<string | undefined> = [];
  const process = createProcessor({
    ...jobProcessorOptions,
    outputTopic: "jobs.vectors",
    deadLetterTopic: "jobs.dlq",
    store,
    embed: async (texts) => {
      embedded.push([...texts]);
      // A vector that identifies its text: its length and first character code.
      return texts.map((text) => Float32Array.of(text.length, text.charCodeAt(5)));
    },
    produce: async (records) => void produced.push(...records),
    onDeadLetter: (_record, code, _reason, key) => {
      deadLettered.push(code);
      deadLetterKeys.push(key);
    },
    ...overrides,
  });
  return { store, embedded, produced, deadLettered, deadLetterKeys, process };
}

/** The content hash the pipelines document: sha256(version NUL template NUL normalised text). */
function expectedHash(text: string): string {
  return createHash("sha256").update("v1\u0000Job: {{title}}\u0000").update(text).digest("hex");
}

/** Key "a" stored live with the text "Job: Nurse" at event time 100 (partition 0, offset 0). */
function storeNurse(store: ReturnType<typeof memoryStore>): void {
  store.metas.set("a", {
    live: true,
    eventTimeMs: 100,
    offset: 0,
    partition: 0,
    contentHash: expectedHash("Job: Nurse"),
  });
}

/** Another writer's tombstone of key "a" from partition 1, at `offset` (default 0). */
function otherDelete(eventTimeMs: number, offset = 0): StoreWrite {
  return { kind: "delete", entity: "job", id: "a", version: "v1", eventTimeMs, offset, partition: 1 };
}

/** Another writer's upsert of key "a" with `text` from partition 1, at `offset` (default 0). */
function otherUpsert(eventTimeMs: number, text: string, offset = 0): StoreWrite {
  return {
    kind: "upsert",
    entity: "job",
    id: "a",
    version: "v1",
    eventTimeMs,
    offset,
    partition: 1,
    vector: Float32Array.of(1, 2),
    modelDigest: "sha256:m",
    contentHash: expectedHash(text),
  };
}

describe("nearline batch processor", () => {
  it("embeds each distinct text once, writes every changed key, and produces a vector per write", async () => {
    const { store, embedded, produced, process } = setup();
    const outcome = await process([
      record("a", 100, { title: "Nurse" }),
      record("b", 100, { title: "Nurse" }),
      record("c", 100, { title: "Pilot" }),
    ]);
    expect(embedded).toEqual([["Job: Nurse", "Job: Pilot"]]);
    expect(outcome).toMatchObject({ consumed: 3, embedded: 3, inferenceTexts: 2, skippedUnchanged: 0 });
    expect(store.metas.get("a")).toMatchObject({
      live: true,
      eventTimeMs: 100,
      contentHash: expectedHash("Job: Nurse"),
    });
    expect(store.writes.map((write) => write.id)).toEqual(["a", "b", "c"]);
    expect(produced.map((each) => [each.topic, each.key])).toEqual([
      ["jobs.vectors", "job/v1/a"],
      ["jobs.vectors", "job/v1/b"],
      ["jobs.vectors", "job/v1/c"],
    ]);
  });

  it("applies an update of the same event time from a partition added later, whose offsets start at 0", async () => {
    const { store, process } = setup();
    // The key's old event sits far into partition 0; after partitions were added its producer's
    // partitioner sent the next change to partition 1, offset 0, within the same millisecond.
    await process([{ ...record("moved", 700, { title: "Nurse" }), offset: 99n }]);
    const outcome = await process([
      { ...record("moved", 700, { title: "Pilot" }), partition: 1, offset: 0n },
    ]);
    expect(outcome).toMatchObject({ embedded: 1, skippedStale: 0 });
    expect(store.metas.get("moved")).toMatchObject({
      partition: 1,
      offset: 0,
      contentHash: expectedHash("Job: Pilot"),
    });
    // The old partition's event replayed (a rebalance) stays out.
    const replay = await process([{ ...record("moved", 700, { title: "Nurse" }), offset: 99n }]);
    expect(replay).toMatchObject({ embedded: 0, skippedStale: 1 });
  });

  it("skips an update whose text is unchanged, also right after its create in the same batch", async () => {
    const { embedded, process } = setup();
    const outcome = await process([
      record("a", 100, { title: "Nurse" }),
      record("a", 200, { title: "  Nurse ", views: 3 }),
    ]);
    expect(outcome).toMatchObject({ embedded: 1, skippedUnchanged: 1, inferenceTexts: 1 });
    expect(embedded).toEqual([["Job: Nurse"]]);
    const again = await process([record("a", 300, { title: "Nurse" })]);
    expect(again).toMatchObject({ embedded: 0, skippedUnchanged: 1, inferenceTexts: 0 });
  });

  it("re-embeds unchanged texts when change detection is off", async () => {
    const { process } = setup({ changeDetection: false });
    await process([record("a", 100, { title: "Nurse" })]);
    expect(await process([record("a", 200, { title: "Nurse" })])).toMatchObject({
      embedded: 1,
      inferenceTexts: 1,
    });
  });

  it("keeps an unchanged update's position, so a late event older than it loses", async () => {
    const { store, produced, process } = setup();
    await process([record("a", 100, { title: "Nurse" }), record("b", 100, { title: "Nurse" })]);
    produced.length = 0;
    // a: the unchanged update (300) and the late event (200) in separate batches; b: in one batch.
    expect(await process([record("a", 300, { title: "Nurse", views: 3 })])).toMatchObject({
      skippedUnchanged: 1,
      inferenceTexts: 0,
    });
    expect(store.metas.get("a")).toMatchObject({ live: true, eventTimeMs: 300 });
    const late = await process([
      record("a", 200, { title: "Porter" }),
      record("b", 300, { title: "Nurse", views: 3 }),
      record("b", 200, { title: "Porter" }),
    ]);
    expect(late).toMatchObject({ skippedStale: 2, skippedUnchanged: 1, embedded: 0, inferenceTexts: 0 });
    for (const id of ["a", "b"])
      expect(store.metas.get(id)).toMatchObject({
        eventTimeMs: 300,
        contentHash: expectedHash("Job: Nurse"),
      });
    expect(produced).toEqual([]);
  });

  it("stores a change and a later unchanged event of the batch as one write at the later position", async () => {
    const { store, produced, process } = setup();
    await process([record("a", 100, { title: "Nurse" })]);
    store.writes.length = 0;
    produced.length = 0;
    const outcome = await process([
      record("a", 200, { title: "Porter" }),
      record("a", 300, { title: "Porter", views: 3 }),
    ]);
    expect(outcome).toMatchObject({ embedded: 1, skippedUnchanged: 1 });
    expect(store.writes).toMatchObject([{ kind: "upsert", id: "a", eventTimeMs: 300 }]);
    expect(store.metas.get("a")).toMatchObject({
      eventTimeMs: 300,
      contentHash: expectedHash("Job: Porter"),
    });
    // The output record states the change as of its own event.
    expect(produced.map((each) => JSON.parse(String(each.value)).eventTime)).toEqual([
      new Date(200).toISOString(),
    ]);
  });

  it("skips a replayed or late event without inference, and never revives a deleted key", async () => {
    const { store, embedded, process } = setup();
    await process([record("a", 200, { title: "Nurse" }), record("a", 300, { op: "d" })]);
    expect(store.metas.get("a")).toMatchObject({ live: false, eventTimeMs: 300 });
    embedded.length = 0;
    const outcome = await process([record("a", 250, { title: "Head nurse" })]);
    expect(outcome).toMatchObject({ skippedStale: 1, embedded: 0, inferenceTexts: 0 });
    expect(embedded).toEqual([]);
    expect(store.metas.get("a")).toMatchObject({ live: false, eventTimeMs: 300 });
  });

  it("deletes on the delete marker and on a tombstone, producing a record without a vector", async () => {
    const { store, produced, process } = setup();
    await process([record("a", 100, { title: "Nurse" }), record("b", 100, { title: "Cook" })]);
    produced.length = 0;
    const outcome = await process([record("a", 200, { op: "d" }), record("b", 0, null)]);
    expect(outcome).toMatchObject({ deleted: 2, embedded: 0 });
    expect(store.metas.get("a")?.live).toBe(false);
    expect(store.metas.get("b")?.live).toBe(false);
    expect(produced.map((each) => JSON.parse(String(each.value)).vector)).toEqual([null, null]);
  });

  it("dead-letters what cannot be decoded or has none of the fields, and keeps the rest of the batch", async () => {
    const { produced, deadLettered, deadLetterKeys, process } = setup();
    const outcome = await process([
      record("bad", 100, "{not json"),
      record("empty", 100, { other: 1 }),
      record("ok", 100, { title: "Nurse" }),
    ]);
    expect(outcome).toMatchObject({
      deadLettered: 2,
      deadLetterCodes: { INVALID_JSON: 1, NO_FIELDS: 1 },
      embedded: 1,
    });
    expect(deadLettered).toEqual(["INVALID_JSON", "NO_FIELDS"]);
    // The decoded event's key for the log line; an undecodable one has none.
    expect(deadLetterKeys).toEqual([undefined, "empty"]);
    const dead = produced.filter((each) => each.topic === "jobs.dlq");
    expect(dead.map((each) => each.headers["jude.error.code"])).toEqual(["INVALID_JSON", "NO_FIELDS"]);
    expect(String(dead[0]!.value)).toBe("{not json");
  });

  it("dead-letters an update carrying Debezium's placeholder for an unchanged TOAST value and keeps the vector", async () => {
    const { store, embedded, produced, process } = setup();
    await process([record("a", 100, { title: "Nurse" })]);
    embedded.length = 0;
    produced.length = 0;
    const outcome = await process([record("a", 200, { title: "__debezium_unavailable_value" })]);
    expect(outcome).toMatchObject({
      deadLettered: 1,
      deadLetterCodes: { UNAVAILABLE_VALUE: 1 },
      embedded: 0,
    });
    expect(embedded).toEqual([]);
    expect(store.metas.get("a")).toMatchObject({
      live: true,
      eventTimeMs: 100,
      contentHash: expectedHash("Job: Nurse"),
    });
    const reason = String(produced[0]!.headers["jude.error.reason"]);
    expect(reason).toContain("field title holds");
    expect(reason).toContain("REPLICA IDENTITY FULL");
  });

  it("writes nothing and produces nothing when inference fails", async () => {
    const { store, produced, process } = setup({
      embed: async () => {
        throw new Error("server away");
      },
    });
    await expect(process([record("a", 100, { title: "Nurse" })])).rejects.toThrow("server away");
    expect(store.writes).toEqual([]);
    expect(produced).toEqual([]);
  });

  it("dead-letters the events whose text the server refuses, and writes the rest of the batch", async () => {
    class Refusal extends Error {}
    const calls: string[][] = [];
    const { store, produced, deadLettered, deadLetterKeys, process } = setup({
      embed: async (texts) => {
        calls.push([...texts]);
        const bad = texts.find((text) => text.includes("\u0007"));
        if (bad !== undefined) throw new Refusal(`input ${JSON.stringify(bad)} is not text`);
        return texts.map((text) => Float32Array.of(text.length, 0));
      },
      isRefusedInput: (error) => error instanceof Refusal,
    });
    const outcome = await process([
      record("a", 100, { title: "Nurse" }),
      record("b", 100, { title: "Bell \u0007" }),
      record("c", 100, { title: "Pilot" }),
      record("d", 100, { title: "Chef" }),
    ]);
    expect(outcome).toMatchObject({
      deadLettered: 1,
      deadLetterCodes: { EMBEDDING_REFUSED: 1 },
      embedded: 3,
    });
    expect(deadLettered).toEqual(["EMBEDDING_REFUSED"]);
    expect(deadLetterKeys).toEqual(["b"]);
    expect(store.writes.map((write) => write.id)).toEqual(["a", "c", "d"]);
    const dead = produced.filter((each) => each.topic === "jobs.dlq");
    expect(dead.map((each) => [String(each.key), each.headers["jude.error.code"]])).toEqual([
      ["b", "EMBEDDING_REFUSED"],
    ]);
    expect(dead[0]!.headers["jude.error.reason"]).toContain("the embedding server refused its text: input");
    expect(produced.filter((each) => each.topic === "jobs.vectors").map((each) => each.key)).toEqual([
      "job/v1/a",
      "job/v1/c",
      "job/v1/d",
    ]);
    // Halved until the refused text stood alone: the other texts were embedded in the halves.
    expect(calls).toEqual([
      ["Job: Nurse", "Job: Bell \u0007", "Job: Pilot", "Job: Chef"],
      ["Job: Nurse", "Job: Bell \u0007"],
      ["Job: Nurse"],
      ["Job: Bell \u0007"],
      ["Job: Pilot", "Job: Chef"],
    ]);
  });

  it("dead-letters every event of a key whose refused text it repeats, not only the first", async () => {
    class Refusal extends Error {}
    const { store, produced, process } = setup({
      embed: async (texts) => {
        if (texts.some((text) => text.includes("\u0007"))) throw new Refusal("input is not text");
        return texts.map((text) => Float32Array.of(text.length, 0));
      },
      isRefusedInput: (error) => error instanceof Refusal,
    });
    // b's second and third events repeat its first one's text (other fields changed): the same refusal.
    const outcome = await process([
      record("b", 100, { title: "Bell \u0007" }),
      record("a", 100, { title: "Nurse" }),
      record("b", 200, { title: "Bell \u0007", views: 1 }),
      record("b", 300, { title: "Bell \u0007", views: 2 }),
    ]);
    expect(outcome).toMatchObject({
      embedded: 1,
      skippedUnchanged: 0,
      deadLettered: 3,
      deadLetterCodes: { EMBEDDING_REFUSED: 3 },
    });
    const dead = produced.filter((each) => each.topic === "jobs.dlq");
    expect(dead.map((each) => [String(each.key), each.headers["jude.source.offset"]])).toEqual(
      [0, 2, 3].map((index) => ["b", String(Number(dead[0]!.headers["jude.source.offset"]) + index)]),
    );
    expect(store.writes.map((write) => write.id)).toEqual(["a"]);
  });

  it("still fails the batch when the server refuses for a reason that is not about the input", async () => {
    const { store, process } = setup({
      embed: async () => {
        throw new Error("server away");
      },
      isRefusedInput: () => false,
    });
    await expect(process([record("a", 100, { title: "Nurse" })])).rejects.toThrow("server away");
    expect(store.writes).toEqual([]);
  });

  it("acknowledges the output before the store write: a failed produce leaves the store untouched", async () => {
    let failProduce = true;
    const { store, produced, process } = setup({
      produce: async (records) => {
        if (failProduce) throw new Error("broker away");
        produced.push(...records);
      },
    });
    const batch = [record("a", 100, { title: "Nurse" }), record("a", 200, { title: "Head nurse" })];
    await expect(process(batch)).rejects.toThrow("broker away");
    expect(store.writes).toEqual([]);
    // The retry of the same batch produces both applied changes, then stores them.
    failProduce = false;
    expect(await process(batch)).toMatchObject({ embedded: 2, skippedStale: 0 });
    expect(produced.map((each) => JSON.parse(String(each.value)).source.offset)).toEqual(
      batch.map((each) => each.offset.toString()),
    );
    expect(store.metas.get("a")).toMatchObject({ eventTimeMs: 200 });
  });

  it("writes an unchanged re-create in full when another writer tombstoned the key after change detection", async () => {
    // A bootstrap of the version writes deletes as conditional tombstones while the version's workers
    // already write: a key updated on partition 0 and deleted on partition 1 (added later) can be
    // live when change detection reads it and tombstoned (older delete) before the advance lands.
    // The advance then finds no live record and the newest event, a re-create with the old text,
    // must still leave the key live.
    const context = setup({
      atStep: async (step) => {
        if (step !== "produced") return;
        await context.store.write([otherDelete(200)]);
      },
    });
    storeNurse(context.store);
    const outcome = await context.process([record("a", 300, { title: "Nurse" })]);
    expect(context.store.metas.get("a")).toMatchObject({
      live: true,
      eventTimeMs: 300,
      contentHash: expectedHash("Job: Nurse"),
    });
    expect(outcome).toMatchObject({ embedded: 1, skippedUnchanged: 0, inferenceTexts: 1 });
    // The store is read once for change detection and once to tell the refused advance from a stale
    // one; the second round reuses that read instead of reading the key a third time.
    expect(context.store.reads).toBe(2);
    // Its vector reaches the output topic too, as for any event written in full.
    expect(context.produced.map((each) => each.key)).toEqual(["job/v1/a"]);
  });

  it("writes an unchanged event in full when another writer stored an older, other text after change detection", async () => {
    const context = setup({
      atStep: async (step) => {
        if (step !== "produced" || context.store.metas.get("a")?.eventTimeMs !== 100) return;
        await context.store.write([otherUpsert(200, "Job: Pilot")]);
      },
    });
    storeNurse(context.store);
    await context.process([record("a", 300, { title: "Nurse" })]);
    expect(context.store.metas.get("a")).toMatchObject({
      live: true,
      eventTimeMs: 300,
      contentHash: expectedHash("Job: Nurse"),
    });
  });

  it("dead-letters an event whose write other writers refused in every round, naming its key, instead of dropping it", async () => {
    // Each round: change detection reads the key live with the event's text (an advance is planned),
    // another writer tombstones it at an older position before the write, then (but after the last
    // round) stores the text again at an older position. Four rounds, four refusals.
    let round = 0;
    const context = setup({
      atStep: async (step) => {
        if (step === "produced") await context.store.write([otherDelete(200 + 10 * round, round)]);
        if (step !== "stored") return;
        round++;
        if (round < 4) await context.store.write([otherUpsert(195 + 10 * round, "Job: Nurse", round - 1)]);
      },
    });
    storeNurse(context.store);
    const event = record("a", 300, { title: "Nurse" });
    const outcome = await context.process([event]);
    expect(round).toBe(4);
    // One read per round (its refused advance) besides the first change detection.
    expect(context.store.reads).toBe(5);
    // The key stays deleted though its newest event is an upsert: that must not pass unnoticed.
    expect(context.store.metas.get("a")).toMatchObject({ live: false });
    expect(context.deadLettered).toEqual(["WRITE_CONTENDED"]);
    expect(context.deadLetterKeys).toEqual(["a"]);
    const letter = context.produced.find((each) => each.topic === "jobs.dlq");
    expect(letter?.headers["jude.error.code"]).toBe("WRITE_CONTENDED");
    expect(letter?.headers["jude.error.reason"]).toContain("key a");
    expect(letter?.headers["jude.source.offset"]).toBe(event.offset.toString());
    expect(outcome).toMatchObject({ consumed: 1, deadLettered: 1, embedded: 0, skippedUnchanged: 0 });
    expect(outcome.deadLetterCodes).toEqual({ WRITE_CONTENDED: 1 });
  });

  it("never writes a re-round's event over a newer one another writer stored meanwhile", async () => {
    // Round 1: a tombstone lands before the advance. Round 2 (the event written in full): a newer
    // event of the key from another worker lands before its upsert, which must lose.
    let produced = 0;
    const context = setup({
      atStep: async (step) => {
        if (step !== "produced") return;
        if (++produced === 1) await context.store.write([otherDelete(200)]);
        else await context.store.write([otherUpsert(400, "Job: Pilot")]);
      },
    });
    storeNurse(context.store);
    const outcome = await context.process([record("a", 300, { title: "Nurse" })]);
    expect(produced).toBe(2);
    expect(context.store.metas.get("a")).toMatchObject({
      eventTimeMs: 400,
      contentHash: expectedHash("Job: Pilot"),
    });
    expect(outcome).toMatchObject({
      consumed: 1,
      embedded: 0,
      skippedStale: 1,
      skippedUnchanged: 0,
      deadLettered: 0,
    });
    // One output record for the key over both rounds (the first planned no write of its text).
    expect(context.produced.map((each) => each.key)).toEqual(["job/v1/a"]);
  });

  it("ends the freshness of a write when its own round was stored, not when a later round was", async () => {
    // "b" is written in the first round; "a"'s advance is refused (a tombstone lands in between) and
    // written in full in a second round, whose embedding takes a minute.
    let now = 1_000_000;
    const clock = vi.spyOn(Date, "now").mockImplementation(() => now);
    try {
      let embeds = 0;
      const context = setup({
        embed: async (texts) => {
          if (++embeds === 2) now += 60_000;
          return texts.map(() => Float32Array.of(1, 2));
        },
        atStep: async (step) => {
          if (step !== "produced" || embeds !== 1) return;
          await context.store.write([otherDelete(200)]);
        },
      });
      storeNurse(context.store);
      const outcome = await context.process([
        record("a", 300, { title: "Nurse" }),
        record("b", 400, { title: "Pilot" }),
      ]);
      expect(embeds).toBe(2);
      const stored = outcome.visibleEventTimesMs.map((time, index) => [
        time,
        outcome.visibleStoredAtMs[index],
      ]);
      expect(stored).toEqual([
        [400, 1_000_000],
        [300, 1_060_000],
      ]);
    } finally {
      clock.mockRestore();
    }
  });

  it("reads the store once and writes once for a batch whose advances the store takes", async () => {
    const { store, process } = setup();
    storeNurse(store);
    const writeCalls: number[] = [];
    const write = store.write;
    store.write = async (batch) => {
      writeCalls.push(batch.length);
      return write(batch);
    };
    const outcome = await process([
      record("a", 300, { title: "Nurse" }),
      record("b", 300, { title: "Pilot" }),
      record("c", 300, { op: "d" }),
    ]);
    expect(outcome).toMatchObject({ skippedUnchanged: 1, embedded: 1, deleted: 1 });
    expect(store.reads).toBe(1);
    expect(writeCalls).toEqual([3]);
  });

  it("reports its steps in order, with the store still unwritten until after 'produced'", async () => {
    const steps: string[] = [];
    const context = setup({
      atStep: async (step, batch) => {
        steps.push(
          `${step}:${batch.events}:${batch.produced}:${batch.writes}:${context.store.writes.length}`,
        );
      },
    });
    await context.process([record("a", 100, { title: "Nurse" }), record("bad", 100, "{x")]);
    expect(steps).toEqual(["embedded:2:2:1:0", "produced:2:2:1:0", "stored:2:2:1:1"]);
  });
});

import { describe, expect, it } from "vitest";
import type { EntityStore } from "../shared/entity-writes.ts";
import { memoryStore } from "../../test/support/memory-entity-store.ts";
import { createEntityBatchWriter, type BatchEntity } from "./entity-batch.ts";
import { vectorOfOneForEach } from "./entity-batch.test-data.ts";

const upsert = (id: string, text: string | null, eventTimeMs = 100, offset = 5): BatchEntity => ({
  id,
  op: "upsert",
  eventTimeMs,
  offset,
  partition: 0,
  text: text === null ? null : { text, hash: `hash-${text}` },
});

describe("createEntityBatchWriter", () => {
  it("asks for vectors only for entities the store does not already hold at a newer position", async () => {
    const store = memoryStore({
      fresh: { live: true, eventTimeMs: 500, offset: 0, partition: 0, contentHash: "nearline" },
      older: { live: true, eventTimeMs: 50, offset: 0, partition: 0, contentHash: "old" },
    });
    const asked: string[] = [];
    const write = createEntityBatchWriter({
      entity: "job",
      version: "v2",
      modelDigest: "sha256:d",
      store,
      vectorsFor: async (texts) => {
        asked.push(...texts.map((each) => each.text));
        const distinct = new Set(texts.map((each) => each.hash)).size;
        return {
          vectors: texts.map((each) => Float32Array.of(each.text.length)),
          refused: new Map(),
          failed: new Map(),
          embedded: distinct,
          inference: { calls: 1, texts: distinct },
        };
      },
    });
    const { counts } = await write([
      upsert("fresh", "Nurse"),
      upsert("older", "Nurse"),
      upsert("new", "Nurse"),
      upsert("empty", null),
      { id: "gone", op: "delete", eventTimeMs: 100, offset: 6, partition: 0, text: null },
    ]);
    expect(asked).toEqual(["Nurse", "Nurse"]);
    expect(counts).toEqual({
      entities: 4,
      written: 2,
      stale: 1,
      embedded: 1,
      deduplicated: 1,
      failed: 1,
      deleted: 1,
      inferenceCalls: 1,
      inferenceTexts: 1,
    });
    expect(store.writes.map((each) => [each.id, each.kind, each.eventTimeMs, each.offset])).toEqual([
      ["older", "upsert", 100, 5],
      ["new", "upsert", 100, 5],
      ["gone", "delete", 100, 6],
    ]);
    expect(store.writes[0]).toMatchObject({
      contentHash: "hash-Nurse",
      modelDigest: "sha256:d",
      version: "v2",
    });
  });

  it("counts a write that lost a race after the check as stale", async () => {
    const store = memoryStore();
    const racing: EntityStore = {
      readMeta: store.readMeta,
      write: async (writes) => {
        // A nearline write lands between the check and the write.
        await store.write([{ ...writes[0]!, eventTimeMs: 10_000 }]);
        return store.write(writes);
      },
    };
    const write = createEntityBatchWriter({
      entity: "job",
      version: "v2",
      modelDigest: "sha256:d",
      store: racing,
      vectorsFor: vectorOfOneForEach,
    });
    expect((await write([upsert("k", "Cook")])).counts).toMatchObject({ written: 0, stale: 1 });
  });

  it("writes no entity whose text the server refused or failed on alone, counts it failed and says why", async () => {
    const store = memoryStore();
    const write = createEntityBatchWriter({
      entity: "job",
      version: "v2",
      modelDigest: "sha256:d",
      store,
      vectorsFor: async (texts) => ({
        vectors: texts.map((each) =>
          ["huge", "poison"].includes(each.text) ? undefined : Float32Array.of(1),
        ),
        refused: new Map([["hash-huge", "message too large"]]),
        failed: new Map([["hash-poison", "INTERNAL JUDE_SERVING_BACKEND_FAILED: inference failed"]]),
        embedded: 1,
        inference: { calls: 2, texts: 2 },
      }),
    });
    const { counts, failures, failedCodes } = await write([
      upsert("a", "Cook"),
      upsert("b", "huge", 100, 7),
      upsert("c", "huge", 100, 8),
      upsert("d", "Cook"),
      upsert("e", "poison", 100, 9),
    ]);
    expect(counts).toEqual({
      entities: 2,
      written: 2,
      stale: 0,
      embedded: 1,
      deduplicated: 1,
      failed: 3,
      deleted: 0,
      inferenceCalls: 2,
      inferenceTexts: 2,
    });
    expect(store.writes.map((each) => each.id)).toEqual(["a", "d"]);
    // Every failed entity by code (the operator exports them as jude_bootstrap_dead_letters{code}).
    expect(failedCodes).toEqual({ EMBEDDING_REFUSED: 2, EMBEDDING_FAILED: 1 });
    expect(failures).toEqual([
      {
        code: "EMBEDDING_REFUSED",
        reason: "the embedding server refused its text: message too large",
        partition: 0,
        offset: 7,
        id: "b",
      },
      expect.objectContaining({ code: "EMBEDDING_REFUSED", offset: 8, id: "c" }),
      {
        code: "EMBEDDING_FAILED",
        reason:
          "the embedding server failed on this text alone, while it answered other calls: INTERNAL JUDE_SERVING_BACKEND_FAILED: inference failed",
        partition: 0,
        offset: 9,
        id: "e",
      },
    ]);
  });
});

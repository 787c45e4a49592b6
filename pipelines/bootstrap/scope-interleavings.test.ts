/**
 * A Kafka bootstrap restricted by `scope` over a key's records on two partitions (the producer moved
 * keys when a partition was added), each partition replayed on its own and written in either order:
 * seeded histories, windows and id lists, checked against each key's newest record. Into an empty
 * version: a key whose newest record deletes it never ends live, a key whose newest record is in scope
 * ends exactly at it, an id left out of `ids` is never written. Into a version nearline keeps fresh
 * (every key already at its newest record): the run changes nothing and counts nothing deleted.
 */
import { describe, expect, it } from "vitest";
import type { SourceRecord } from "../shared/decode.ts";
import { memoryStore } from "../../test/support/memory-entity-store.ts";
import { isNewer, type StoreWrite } from "../../store/index.ts";
import { SeededRandom } from "../../test/support/seeded-random.ts";
import { bootstrapConfigSchema, resolveShardIndex } from "./config.ts";
import { createEntityBatchWriter } from "./entity-batch.ts";
import { vectorOfOneForEach } from "./entity-batch.test-data.ts";
import { kafkaPartitionBatches, type RecordInterpreter } from "./source-units.ts";
import { createInterpreter } from "./work.ts";

const KEYS = ["a", "b", "c"];
const SEEDS = 1_500;

interface Event {
  id: string;
  eventTimeMs: number;
  partition: number;
  offset: number;
  deleted: boolean;
  title: string;
}

async function* chunks<T>(...parts: T[][]): AsyncGenerator<T[]> {
  for (const part of parts) yield part;
}

/** One seeded history and scope; `fresh`: the store holds every key's newest record first. */
async function scopedRun(seed: number, fresh: boolean): Promise<void> {
  const random = new SeededRandom(seed);
  const events: Event[] = [];
  const offsets = [0, 0];
  const count = 2 + random.int(7);
  for (let index = 0; index < count; index++) {
    const partition = random.int(2);
    events.push({
      id: KEYS[random.int(KEYS.length)]!,
      eventTimeMs: 10 * random.int(10),
      partition,
      offset: offsets[partition]!++,
      deleted: random.chance(0.35),
      title: ["Nurse", "Pilot"][random.int(2)]!,
    });
  }
  const from = random.chance(0.8) ? 10 * random.int(5) : undefined;
  const to = (from ?? 0) + 10 * (1 + random.int(5));
  const ids = random.chance(0.3) ? KEYS.filter(() => random.chance(0.5)) : undefined;
  const scope = {
    ...(from !== undefined ? { eventTimeFrom: new Date(from).toISOString() } : {}),
    eventTimeTo: new Date(to).toISOString(),
    ...(ids !== undefined ? { ids: ids.length > 0 ? ids : ["none"] } : {}),
  };
  const interpreter = createInterpreter(
    resolveShardIndex(
      bootstrapConfigSchema.parse({
        run: { name: "r" },
        entity: "job",
        model: { version: "v1", digest: "sha256:d", dimensions: 4, template: "Job: {{title}}" },
        decode: { keyPath: "$.id", eventTimePath: "$.at", delete: { path: "$.op", values: ["d"] } },
        extract: { title: "$.title" },
        embedding: { endpoint: "e:1" },
        store: { name: "s" },
        source: { kafka: { bootstrapServers: ["k:9092"], topic: "t" } },
        shards: { count: 1, index: 0 },
        scope,
      }),
      {},
    ),
  );
  const newest = new Map<string, Event>();
  for (const event of events) if (isNewer(event, newest.get(event.id) ?? null)) newest.set(event.id, event);

  const store = memoryStore();
  if (fresh)
    await store.write(
      [...newest.values()].map((event): StoreWrite => {
        const { id, eventTimeMs, partition, offset } = event;
        const position = { entity: "job", id, version: "v1", eventTimeMs, partition, offset };
        return event.deleted
          ? { ...position, kind: "delete" }
          : {
              ...position,
              kind: "upsert",
              vector: Float32Array.of(1),
              modelDigest: "sha256:d",
              contentHash: "nearline",
            };
      }),
    );
  const before = new Map(store.metas);
  const write = createEntityBatchWriter({
    entity: "job",
    version: "v1",
    modelDigest: "sha256:d",
    store,
    vectorsFor: vectorOfOneForEach,
  });
  let deleted = 0;
  for (const partition of random.chance(0.5) ? [0, 1] : [1, 0])
    for await (const batch of partitionBatches(events, partition, interpreter)) {
      const { counts } = await write(batch.entities);
      deleted += counts.deleted;
      expect(counts.entities).toBe(counts.written + counts.deleted + counts.stale);
    }

  const context = { seed, fresh, events, scope };
  if (fresh) {
    expect({ ...context, stored: store.metas, deleted }).toEqual({ ...context, stored: before, deleted: 0 });
    return;
  }
  for (const [id, event] of newest) {
    const meta = store.metas.get(id);
    const stored = meta && [meta.eventTimeMs, meta.partition, meta.offset, meta.live];
    if (ids !== undefined && !ids.includes(id))
      expect({ ...context, id, stored }).toEqual({ ...context, id });
    else if (event.eventTimeMs >= (from ?? -Infinity) && event.eventTimeMs < to)
      expect({ ...context, id, stored }).toEqual({
        ...context,
        id,
        stored: [event.eventTimeMs, event.partition, event.offset, !event.deleted],
      });
    else if (event.deleted)
      expect({ ...context, id, live: meta?.live ?? false }).toEqual({ ...context, id, live: false });
  }
}

function partitionBatches(events: readonly Event[], partition: number, interpreter: RecordInterpreter) {
  const records = events
    .filter((event) => event.partition === partition)
    .map((event): SourceRecord => ({
      key: Buffer.from(event.id),
      value: Buffer.from(
        JSON.stringify(
          event.deleted
            ? { id: event.id, at: event.eventTimeMs, op: "d" }
            : { id: event.id, at: event.eventTimeMs, title: event.title },
        ),
      ),
      timestamp: 0,
      partition,
      offset: BigInt(event.offset),
    }));
  const unit = { start: 0, end: records.length, position: 0, done: false };
  return kafkaPartitionBatches(chunks(records), unit, interpreter, 2);
}

describe("a scoped Kafka bootstrap over keys moved between partitions", () => {
  it(`never revives a deleted key, writes each in-scope key at its newest record, and leaves a fresh version as it is (${SEEDS} seeded histories)`, async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      await scopedRun(seed, false);
      await scopedRun(seed, true);
    }
  });
});

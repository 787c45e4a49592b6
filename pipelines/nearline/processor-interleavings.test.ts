/**
 * The nearline batch processor against another writer (a bootstrap of the version writing deletes, a
 * partition's previous owner) that writes the same keys at any step boundary of any round: seeded
 * interleavings, each checked against the store's rule that the newest position wins. The re-rounds
 * of refused advances (and the store read they reuse) must never leave a key older than its newest
 * event unless that event is dead-lettered WRITE_CONTENDED, and the batch's counts must add up.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { memoryStore } from "../../test/support/memory-entity-store.ts";
import { createProcessor, type ConsumedRecord } from "./processor.ts";
import { jobProcessorOptions } from "./processor.test-data.ts";
import { isNewer, type RecordMeta, type StoreWrite } from "../../store/index.ts";
import { SeededRandom } from "../../test/support/seeded-random.ts";

const KEYS = ["a", "b"];
const TITLES = ["Nurse", "Pilot"];
const SEEDS = 2_000;

function hashOf(title: string): string {
  return createHash("sha256").update("v1\u0000Job: {{title}}\u0000").update(`Job: ${title}`).digest("hex");
}

/** A key's state as the store's rule decides it: position, and the content hash (null: deleted). */
interface State {
  eventTimeMs: number;
  partition: number;
  offset: number;
  hash: string | null;
}

const time = (random: SeededRandom): number => 100 + 10 * random.int(8);

async function interleaving(seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const initial: Record<string, RecordMeta> = {};
  for (const id of KEYS) {
    if (!random.chance(0.9)) continue;
    const live = random.chance(0.7);
    const title = TITLES[random.int(2)]!;
    initial[id] = {
      live,
      eventTimeMs: time(random),
      offset: 0,
      partition: 1,
      contentHash: live ? hashOf(title) : "",
    };
  }
  const store = memoryStore(initial);
  // Every write to the store, the batch's own events and the other writer's, as the rule sees them.
  const writes: Array<{ id: string; state: State }> = Object.entries(initial).map(([id, meta]) => ({
    id,
    state: {
      eventTimeMs: meta.eventTimeMs,
      partition: 1,
      offset: 0,
      hash: meta.live ? meta.contentHash : null,
    },
  }));

  const records: ConsumedRecord[] = [];
  const events = 1 + random.int(6);
  for (let index = 0; index < events; index++) {
    const id = KEYS[random.int(KEYS.length)]!;
    const at = time(random);
    const deleted = random.chance(0.2);
    const title = TITLES[random.int(2)]!;
    const record: ConsumedRecord = {
      topic: "jobs",
      partition: random.chance(0.5) ? 0 : 2,
      offset: BigInt(index + 1),
      timestamp: 0,
      key: Buffer.from(id),
      value: Buffer.from(JSON.stringify(deleted ? { id, time: at, op: "d" } : { id, time: at, title })),
    };
    records.push(record);
    writes.push({
      id,
      state: {
        eventTimeMs: at,
        partition: record.partition,
        offset: index + 1,
        hash: deleted ? null : hashOf(title),
      },
    });
  }

  let otherOffset = 100;
  /** The key of each write of the other writer. */
  const others: string[] = [];
  const contended: string[] = [];
  const process = createProcessor({
    ...jobProcessorOptions,
    store,
    embed: async (texts) => texts.map(() => Float32Array.of(1, 2)),
    produce: async () => {},
    onDeadLetter: (_record, code, _reason, id) => {
      if (code === "WRITE_CONTENDED") contended.push(id!);
    },
    atStep: async () => {
      if (!random.chance(0.8)) return;
      const id = KEYS[random.int(KEYS.length)]!;
      const position = { eventTimeMs: time(random), offset: otherOffset++, partition: 1 };
      const title = random.chance(0.5) ? TITLES[random.int(2)]! : null;
      const write: StoreWrite =
        title === null
          ? { kind: "delete", entity: "job", id, version: "v1", ...position }
          : {
              kind: "upsert",
              entity: "job",
              id,
              version: "v1",
              ...position,
              vector: Float32Array.of(1, 2),
              modelDigest: "sha256:m",
              contentHash: hashOf(title),
            };
      writes.push({ id, state: { ...position, hash: title === null ? null : hashOf(title) } });
      others.push(id);
      await store.write([write]);
    },
  });
  const outcome = await process(records);

  for (const id of KEYS) {
    let expected: State | undefined;
    for (const write of writes)
      if (write.id === id && isNewer(write.state, expected ?? null)) expected = write.state;
    const meta = store.metas.get(id);
    const stored = meta && {
      eventTimeMs: meta.eventTimeMs,
      partition: meta.partition,
      offset: meta.offset,
      hash: meta.live ? meta.contentHash : null,
    };
    // A contended event is dead-lettered precisely because the key may stay older than it.
    // Each of its 4 rounds needs another writer's write of the key to refuse it.
    if (contended.includes(id)) {
      expect(isNewer(expected!, stored ?? null)).toBe(true);
      expect(others.filter((other) => other === id).length).toBeGreaterThanOrEqual(4);
    } else expect({ seed, id, stored }).toEqual({ seed, id, stored: expected });
  }
  const { consumed, embedded, deleted, skippedUnchanged, skippedStale, deadLettered } = outcome;
  expect({ seed, sum: embedded + deleted + skippedUnchanged + skippedStale + deadLettered }).toEqual({
    seed,
    sum: consumed,
  });
  expect(outcome.visibleEventTimesMs).toHaveLength(embedded + deleted);
}

describe("nearline batch processor under another writer's interleaved writes", () => {
  it(`leaves every key at its newest write and adds up its counts (${SEEDS} seeded interleavings)`, async () => {
    for (let seed = 0; seed < SEEDS; seed++) await interleaving(seed);
  });
});

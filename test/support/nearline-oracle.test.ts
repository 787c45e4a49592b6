import { describe, expect, it } from "vitest";
import { isNewer } from "../../store/ordering.ts";
import { expectedChanges, jobHash, jobText, type SourceRecord } from "./nearline-oracle.ts";
import { SeededRandom } from "./seeded-random.ts";

const version = "oracle-v1";

function record(key: string, partition: number, offset: number, time: number, title?: string): SourceRecord {
  const value =
    title === undefined ? { jobId: key, updatedAt: time, op: "d" } : { jobId: key, updatedAt: time, title };
  return {
    key,
    value: Buffer.from(JSON.stringify(value)),
    partition,
    offset: BigInt(offset),
    timestampMs: time,
  };
}

const position = (change: { id: string; partition: number; offset: bigint }) =>
  `${change.id}@${change.partition}:${change.offset}`;

/**
 * The worker's contract on one read order (each partition in offset order, partitions interleaved as
 * `order` says): newer by store/ordering.ts, an unchanged newer upsert publishes nothing. The published
 * positions.
 */
function published(records: readonly SourceRecord[], order: readonly number[]): string[] {
  const queues = new Map<number, SourceRecord[]>();
  for (const each of [...records].sort((a, b) => Number(a.offset - b.offset))) {
    const queue = queues.get(each.partition) ?? [];
    queue.push(each);
    queues.set(each.partition, queue);
  }
  const stored = new Map<
    string,
    { eventTimeMs: number; partition: number; offset: number; hash: string | null }
  >();
  const out: string[] = [];
  for (const partition of order) {
    const next = queues.get(partition)!.shift()!;
    const value = JSON.parse(next.value!.toString()) as Record<string, unknown>;
    const id = String(value.jobId);
    const incoming = { eventTimeMs: Number(value.updatedAt), partition, offset: Number(next.offset) };
    const before = stored.get(id) ?? null;
    if (!isNewer(incoming, before)) continue;
    const hash = value.op === "d" ? null : jobHash(jobText(value), version);
    stored.set(id, { ...incoming, hash });
    if (hash !== null && before?.hash === hash) continue;
    out.push(`${id}@${partition}:${next.offset}`);
  }
  return out.sort();
}

describe("expectedChanges", () => {
  it("does not require the output record of a same-time event the worker skips when it reads the other partition first", () => {
    // Key "moved": an update on partition 0, then (partitions added, the key moved) one of the same
    // event time on partition 1. Other keys put the first at a higher offset.
    const records = [
      record("a", 0, 0, 1000, "A"),
      record("b", 0, 1, 1001, "B"),
      record("moved", 0, 2, 5000, "Old"),
      record("moved", 1, 0, 5000, "New"),
    ];
    const { applied, optional, final } = expectedChanges(records, version);
    // Read partition 1 first, the worker skips partition 0's event as stale (partition 1 wins the tie).
    const partitionOneFirst = published(records, [1, 0, 0, 0]);
    expect(partitionOneFirst).not.toContain("moved@0:2");
    // Read partition 0 first, it publishes both.
    expect(published(records, [0, 0, 0, 1])).toContain("moved@0:2");
    expect(applied.map(position).sort()).toEqual(["a@0:0", "b@0:1", "moved@1:0"]);
    expect(optional.map(position)).toEqual(["moved@0:2"]);
    expect(final.get("moved")).toBe(jobHash(jobText({ title: "New" }), version));
  });

  it("expects nothing of an event its own partition's earlier newer event beats", () => {
    const records = [
      record("k", 0, 0, 2000, "Later"),
      record("k", 0, 1, 1000, "Late arrival"),
      record("k", 1, 0, 1500),
    ];
    const { applied, optional } = expectedChanges(records, version);
    // k@0:1 loses to k@0:0, which the worker always reads first; k@1:0 (a delete) depends on the order.
    expect(applied.map(position)).toEqual(["k@0:0"]);
    expect(optional.map(position)).toEqual(["k@1:0"]);
  });

  it("covers what the worker publishes in every read order of generated workloads with added partitions", () => {
    const random = new SeededRandom(35);
    for (let round = 0; round < 200; round += 1) {
      const partitions = 1 + random.int(3);
      const next = new Array<number>(partitions).fill(0);
      const records: SourceRecord[] = [];
      for (let index = 0; index < 12; index += 1) {
        const partition = random.int(partitions);
        const key = random.pick(["x", "y", "z"]);
        // Few event times and texts: ties and unchanged updates are common.
        const time = 1000 + random.int(4);
        const title = random.int(5) === 0 ? undefined : random.pick(["T1", "T2"]);
        records.push(record(key, partition, next[partition]!++, time, title));
      }
      const { applied, optional } = expectedChanges(records, version);
      const required = applied.map(position);
      const allowed = new Set([...required, ...optional.map(position)]);
      for (let reading = 0; reading < 20; reading += 1) {
        const order = random.shuffle(records.map((each) => each.partition));
        const seen = published(records, order);
        expect(seen, `round ${round}, order ${order.join(",")}`).toEqual(expect.arrayContaining(required));
        for (const each of seen) expect(allowed.has(each), `round ${round}: ${each}`).toBe(true);
      }
    }
  });

  it("keeps the offset-order walk for keys on one partition: each applied change required, nothing optional", () => {
    // The oracle before keys on several partitions were relaxed, for comparison: every record walked in
    // partition then offset order.
    const walk = (records: readonly SourceRecord[]) => {
      const stored = new Map<
        string,
        { eventTimeMs: number; partition: number; offset: number; hash: string | null }
      >();
      const out: string[] = [];
      for (const next of [...records].sort(
        (a, b) => a.partition - b.partition || Number(a.offset - b.offset),
      )) {
        const value = JSON.parse(next.value!.toString()) as Record<string, unknown>;
        const id = String(value.jobId);
        const incoming = {
          eventTimeMs: Number(value.updatedAt),
          partition: next.partition,
          offset: Number(next.offset),
        };
        const before = stored.get(id) ?? null;
        if (!isNewer(incoming, before)) continue;
        const hash = value.op === "d" ? null : jobHash(jobText(value), version);
        stored.set(id, { ...incoming, hash });
        if (hash !== null && before?.hash === hash) continue;
        out.push(`${id}@${next.partition}:${next.offset}`);
      }
      return { out: out.sort(), final: new Map([...stored].map(([id, state]) => [id, state.hash])) };
    };
    const random = new SeededRandom(36);
    for (let round = 0; round < 200; round += 1) {
      const partitions = 1 + random.int(3);
      const next = new Array<number>(partitions).fill(0);
      // Each key keeps to one partition.
      const home = new Map(["x", "y", "z"].map((key) => [key, random.int(partitions)]));
      const records: SourceRecord[] = [];
      for (let index = 0; index < 12; index += 1) {
        const key = random.pick(["x", "y", "z"]);
        const partition = home.get(key)!;
        const time = 1000 + random.int(4);
        const title = random.int(5) === 0 ? undefined : random.pick(["T1", "T2"]);
        records.push(record(key, partition, next[partition]!++, time, title));
      }
      const { applied, optional, final } = expectedChanges(records, version);
      const before = walk(records);
      expect(applied.map(position).sort(), `round ${round}`).toEqual(before.out);
      expect(optional, `round ${round}`).toEqual([]);
      expect(final, `round ${round}`).toEqual(before.final);
    }
  });
});

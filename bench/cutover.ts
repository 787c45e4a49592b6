/**
 * Cutover benchmark: how long the atomic pointer flip takes, how fast readers follow it, and what
 * readers hammering `getMany` see meanwhile. Steady-state reader latency is measured in the same run
 * before any flip, so the figures compare side by side (`reader_p99_ratio`). Misses must be 0.
 *
 * `runCutoverBench()` returns the figures; run this file directly (`node bench/cutover.ts [--json]`)
 * against `JUDE_REDIS_URL` (or `JUDE_REDIS_CLUSTER_NODES` with `--cluster`).
 */

import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PointerState, RedisTarget, Store } from "../store/index.ts";
import {
  StoreReader,
  StoreWriter,
  connectRedis,
  flip,
  isCluster,
  markVersionComplete,
  openStore,
  parseClusterNodes,
  registerVersion,
  rollback,
} from "../store/index.ts";
import { deleteKeysWithPrefix } from "../test/support/redis.ts";

/** Benchmark knobs. */
export interface CutoverBenchOptions {
  readonly target?: RedisTarget;
  /** Records per version. Default 20 000. */
  readonly keys?: number;
  /** Vector dimension (all-MiniLM-L6-v2: 384). */
  readonly dimension?: number;
  /** Concurrent reader clients, each with its own connection and subscription. Default 4. */
  readonly readers?: number;
  /** Ids per getMany call. Default 50. */
  readonly batchSize?: number;
  /** Flips (alternating flip and rollback); medians are taken over them. Default 11. */
  readonly repeats?: number;
}

/** The figures; the first four keys are the contract of `npm run bench -- cutover --json`. */
export interface CutoverBenchFigures {
  readonly bench: "cutover";
  /** Median duration of the atomic flip call (script round trip). */
  readonly flip_ms: number;
  /** p99 getMany latency while flips happen. */
  readonly reader_p99_ms: number;
  /** Lookups that returned no vector during the whole run (must be 0). */
  readonly misses: number;
  readonly flip_propagation_ms: number;
  readonly reader_p50_ms: number;
  readonly reader_p99_steady_ms: number;
  readonly reader_p99_ratio: number;
  readonly errors: number;
  readonly version_mismatches: number;
  readonly lookups: number;
  readonly keys: number;
  readonly dimension: number;
  readonly readers: number;
  readonly repeats: number;
  readonly redis: "standalone" | "cluster";
  readonly machine: { cores: number; cpu: string; flags: string[]; node: string };
}

/** Runs the benchmark and returns its figures. Cleans its keys up afterwards. */
export async function runCutoverBench(options: CutoverBenchOptions = {}): Promise<CutoverBenchFigures> {
  const target = options.target ?? targetFromEnv(false);
  const keys = options.keys ?? 20_000;
  const dimension = options.dimension ?? 384;
  const readerCount = options.readers ?? 4;
  const batchSize = options.batchSize ?? 50;
  const repeats = options.repeats ?? 11;
  const prefix = `jude-bench:cutover-${randomUUID().slice(0, 8)}`;
  const client = connectRedis(target, { connectionName: "bench-cutover" });
  const clients = [client];
  try {
    const store = await openStore(client, { prefix, create: true, buckets: 1024 });
    await fill(store, keys, dimension);
    await flip(store, { expectedCurrent: null, target: "A" });

    const readers = await Promise.all(
      Array.from({ length: readerCount }, async () => {
        const readerClient = connectRedis(target, { connectionName: "bench-cutover-reader" });
        clients.push(readerClient);
        return StoreReader.open(await openStore(readerClient, { prefix }), { refreshIntervalMs: 1_000 });
      }),
    );
    const load = startLoad(readers, keys, batchSize);
    await load.lookupsReach(200);
    const steady = load.takeLatencies();
    await load.lookupsReach(load.lookups() + 200);
    const steadyMore = load.takeLatencies();

    const flipDurations: number[] = [];
    const propagations: number[] = [];
    let current = "A";
    for (let repeat = 0; repeat < repeats; repeat++) {
      const next = current === "A" ? "B" : "A";
      const epoch = (readers[0]?.pointer.epoch ?? 0) + 1;
      const followed = readers.map((reader) => epochReached(reader, epoch));
      const started = performance.now();
      const request = { expectedCurrent: current, target: next };
      await (repeat % 2 === 0 ? flip(store, request) : rollback(store, request));
      flipDurations.push(performance.now() - started);
      await Promise.all(followed);
      propagations.push(performance.now() - started);
      current = next;
      await load.lookupsReach(load.lookups() + 50);
    }
    const duringFlips = load.takeLatencies();
    const result = await load.stop();
    await Promise.all(readers.map((reader) => reader.close()));

    const steadyAll = [...steady, ...steadyMore];
    const readerP99 = percentile(duringFlips, 0.99);
    const steadyP99 = percentile(steadyAll, 0.99);
    return {
      bench: "cutover",
      flip_ms: round(median(flipDurations)),
      reader_p99_ms: round(readerP99),
      misses: result.misses,
      flip_propagation_ms: round(median(propagations)),
      reader_p50_ms: round(percentile(duringFlips, 0.5)),
      reader_p99_steady_ms: round(steadyP99),
      reader_p99_ratio: round(steadyP99 > 0 ? readerP99 / steadyP99 : 1),
      errors: result.errors,
      version_mismatches: result.mismatches,
      lookups: result.lookups,
      keys,
      dimension,
      readers: readerCount,
      repeats,
      redis: isCluster(client) ? "cluster" : "standalone",
      machine: machine(),
    };
  } finally {
    await deleteKeysWithPrefix(client, prefix).catch(() => undefined);
    await Promise.all(clients.map((each) => each.quit().catch(() => undefined)));
  }
}

/** Writes versions A and B with every key; each vector's first element encodes its version. */
async function fill(store: Store, keys: number, dimension: number): Promise<void> {
  const writer = new StoreWriter(store);
  for (const [code, version] of [
    [1, "A"],
    [2, "B"],
  ] as const) {
    await registerVersion(store, version, { modelDigest: `bench:${version}`, dimension });
    for (let start = 0; start < keys; start += 1_000) {
      const batch = Array.from({ length: Math.min(1_000, keys - start) }, (_, offset) => {
        const vector = new Float32Array(dimension).fill(0.01);
        vector[0] = code;
        return {
          kind: "upsert" as const,
          version,
          entity: "job",
          id: String(start + offset),
          eventTimeMs: 1,
          offset: start + offset,
          contentHash: "h",
          vector,
          modelDigest: `bench:${version}`,
        };
      });
      await writer.write(batch);
    }
    await markVersionComplete(store, version);
  }
}

function startLoad(readers: readonly StoreReader[], keys: number, batchSize: number) {
  let running = true;
  let lookups = 0;
  let latencies: number[] = [];
  const totals = { misses: 0, errors: 0, mismatches: 0 };
  const loops = readers.map(async (reader) => {
    while (running) {
      const ids = Array.from({ length: batchSize }, () => String(Math.floor(Math.random() * keys)));
      const started = performance.now();
      try {
        const hits = await reader.getMany("job", ids);
        latencies.push(performance.now() - started);
        for (const hit of hits) {
          if (hit === null) totals.misses++;
          else if (hit.vector[0] !== (hit.version === "A" ? 1 : 2)) totals.mismatches++;
        }
      } catch {
        totals.errors++;
      }
      lookups++;
    }
  });
  return {
    lookups: () => lookups,
    async lookupsReach(count: number) {
      while (lookups < count) await new Promise((resolve) => setImmediate(resolve));
    },
    takeLatencies() {
      const taken = latencies;
      latencies = [];
      return taken;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ...totals, lookups };
    },
  };
}

function epochReached(reader: StoreReader, epoch: number): Promise<void> {
  if (reader.pointer.epoch >= epoch) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = reader.watcher.onChange((pointer: PointerState) => {
      if (pointer.epoch < epoch) return;
      stop();
      resolve();
    });
  });
}

function percentile(values: readonly number[], quantile: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)] ?? 0;
}

function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function machine(): CutoverBenchFigures["machine"] {
  const cpuList = cpus();
  return {
    cores: cpuList.length,
    cpu: cpuList[0]?.model ?? "unknown",
    flags: cpuFlags(),
    node: process.version,
  };
}

/** The SIMD flags that matter for vector work, from /proc/cpuinfo (empty where that does not exist). */
function cpuFlags(): string[] {
  const wanted = ["avx", "avx2", "avx512f", "avx512_vnni", "sse4_2", "neon", "asimd"];
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("flags") || entry.startsWith("Features"));
    return (line?.split(":")[1]?.trim().split(/\s+/) ?? []).filter((flag) => wanted.includes(flag));
  } catch {
    return [];
  }
}

function targetFromEnv(cluster: boolean): RedisTarget {
  const nodes = process.env["JUDE_REDIS_CLUSTER_NODES"];
  const url = process.env["JUDE_REDIS_URL"];
  if (cluster && nodes) return { clusterNodes: parseClusterNodes(nodes) };
  if (!cluster && url) return { url };
  throw new Error(
    `${cluster ? "JUDE_REDIS_CLUSTER_NODES" : "JUDE_REDIS_URL"} is not set (eval "$(npm run -s testbed -- env)")`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const json = process.argv.includes("--json");
  const figures = await runCutoverBench({ target: targetFromEnv(process.argv.includes("--cluster")) });
  if (!json) {
    console.log(
      `cutover: flip ${figures.flip_ms} ms (readers follow in ${figures.flip_propagation_ms} ms), reader p99 ` +
        `${figures.reader_p99_ms} ms during flips vs ${figures.reader_p99_steady_ms} ms steady, misses ${figures.misses}`,
    );
  }
  console.log(JSON.stringify(figures));
}

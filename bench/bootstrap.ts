/**
 * Bootstrap benchmark: N entities (default 100 000) whose texts repeat ~6 times go through the real
 * bootstrap path — a JSON-lines snapshot file, decode/extract/prompt/hash, the store's cross-shard text
 * cache, the real gRPC embedding server (`startEmbeddingServer`, CPU ONNX Runtime, in this process),
 * conditional Redis writes, checkpoints — and are compared side by side with the serving ceiling
 * measured in the same run: the server's best throughput (request size × concurrency searched first)
 * on the same kind of texts through the same client. Texts are short job titles, ~17 tokens with the
 * prompt. `vs_ceiling` = distinct texts per second of the bootstrap / ceiling texts per second (the
 * mean of the ceilings measured right before and right after that run); 1.0 would mean the bootstrap
 * adds no cost on top of inference. Medians over `repeats` runs, each into a fresh store so the text
 * cache starts empty.
 *
 * `runBootstrapBench()` returns the figures; `node bench/bootstrap.ts [--json]` (or
 * `npm run bench -- bootstrap --json`) runs it against JUDE_REDIS_URL and JUDE_MODEL_DIR.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { runBootstrap } from "../pipelines/bootstrap/app.ts";
import { bootstrapConfigSchema, resolveShardIndex } from "../pipelines/bootstrap/config.ts";
import { connectEmbedding } from "../pipelines/shared/embed-client.ts";
import { EmbeddingClient } from "../pipelines/embedding-client/client.ts";
import { parseServingConfig } from "../serving/config.ts";
import { startEmbeddingServer } from "../serving/server.ts";
import { connectRedis, countVersion, isCluster, openStore, type RedisClient } from "../store/index.ts";
import { requireEnv } from "../test/support/env.ts";
import { deleteKeysWithPrefix } from "../test/support/redis.ts";
import { BENCH_EXTRACT, BENCH_TEMPLATE, renderText, snapshotLines } from "./bootstrap-data.ts";
import { machineInfo, median, round } from "./stats.ts";

/** Benchmark knobs. */
export interface BootstrapBenchOptions {
  readonly entities?: number;
  /** Average copies of each text. Default 6. */
  readonly duplication?: number;
  /** Bootstrap runs (medians are reported). Default 3. */
  readonly repeats?: number;
  /** Distinct texts used for each ceiling measurement. Default 3000. */
  readonly ceilingSample?: number;
  readonly redisUrl?: string;
  readonly modelDir?: string;
}

/** Runs the benchmark and returns its figures (first keys: the `npm run bench` contract). */
export async function runBootstrapBench(
  options: BootstrapBenchOptions = {},
): Promise<Record<string, unknown>> {
  const entities = options.entities ?? 100_000;
  const distinct = Math.round(entities / (options.duplication ?? 6));
  const repeats = options.repeats ?? 3;
  const sampleSize = Math.min(options.ceilingSample ?? 3_000, distinct);
  const redisUrl = options.redisUrl ?? requireEnv("JUDE_REDIS_URL");
  const modelDir = options.modelDir ?? requireEnv("JUDE_MODEL_DIR");
  const loadBefore = loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(tmpdir(), "bench-bootstrap-"));
  const snapshot = join(dir, "jobs.jsonl");
  writeFileSync(snapshot, snapshotLines(entities, distinct).join("\n") + "\n");
  // A small run first warms up the JIT and the connections, so the first measured run is not slower.
  const warmUp = join(dir, "warm-up.jsonl");
  const warmUpEntities = Math.min(entities, 6_000);
  const warmUpDistinct = Math.round(warmUpEntities / (entities / distinct));
  writeFileSync(warmUp, snapshotLines(warmUpEntities, warmUpDistinct).join("\n") + "\n");

  const server = await startEmbeddingServer(
    parseServingConfig({
      modelDir,
      listen: { host: "127.0.0.1", grpcPort: 0, httpPort: 0 },
      backend: { executionProvider: "cpu" },
      logLevel: "silent",
    }),
    { logger: pino({ level: "silent" }) },
  );
  await server.ready;
  const address = `127.0.0.1:${server.grpcPort}`;
  const client = new EmbeddingClient({ address });
  const redis = connectRedis({ url: redisUrl }, { connectionName: "bench-bootstrap" });
  try {
    const sample = Array.from({ length: sampleSize }, (_, index) => renderText(index));
    const tokens = (await client.embed(sample.slice(0, 100), { truncate: true })).tokenCounts;
    const best = await searchBestSetting(client, redis, sample.slice(0, Math.min(400, sampleSize)));
    // Ceilings bracket every bootstrap run and each run is compared with the mean of the two around
    // it, so a change in the machine's load (it is shared) weighs on both sides of the ratio.
    await bootstrapOnce(redis, address, server.model.digest, warmUp, best, warmUpEntities, warmUpDistinct);
    const ceilings = [await throughput(client, redis, sample, best.batch, best.concurrency)];
    const runs: {
      seconds: number;
      ceiling: number;
      ratio: number;
      cpuRatio: number;
      requests: number;
      texts: number;
      failures: Record<string, number>;
    }[] = [];
    for (let repeat = 0; repeat < repeats; repeat++) {
      const run = await bootstrapOnce(
        redis,
        address,
        server.model.digest,
        snapshot,
        best,
        entities,
        distinct,
      );
      ceilings.push(await throughput(client, redis, sample, best.batch, best.concurrency));
      const around = [ceilings[repeat]!, ceilings[repeat + 1]!];
      const ceiling = (around[0]!.rate + around[1]!.rate) / 2;
      const ceilingCpuPerText = (around[0]!.cpuPerText + around[1]!.cpuPerText) / 2;
      runs.push({
        ...run,
        ceiling,
        ratio: distinct / run.seconds / ceiling,
        cpuRatio: ceilingCpuPerText / (run.cpuSeconds / distinct),
      });
    }
    const seconds = median(runs.map((run) => run.seconds));
    const ceiling = median(runs.map((run) => run.ceiling));
    // One inference per text answered by the server; embed_requests is the number of gRPC calls.
    const inferenceTexts = median(runs.map((run) => run.texts));
    const distinctPerSecond = distinct / seconds;
    return {
      bench: "bootstrap",
      entities,
      distinct_texts: distinct,
      inference_calls: inferenceTexts,
      embed_requests: runs[0]!.requests,
      inference_calls_runs: runs.map((run) => run.texts),
      failed_requests_runs: runs.map((run) => run.failures),
      dedup_ratio: round(entities / inferenceTexts),
      entities_per_s: round(entities / seconds),
      distinct_texts_per_s: round(distinctPerSecond),
      ceiling_texts_per_s: round(ceiling),
      vs_ceiling: round(median(runs.map((run) => run.ratio))),
      seconds: round(seconds),
      seconds_runs: runs.map((run) => round(run.seconds)),
      ceiling_runs: ceilings.map((each) => round(each.rate)),
      vs_ceiling_runs: runs.map((run) => round(run.ratio)),
      // The same comparison in CPU seconds per distinct text (this process + redis-server): what the
      // wall-clock ratio would be on a machine nobody else uses.
      vs_ceiling_cpu: round(median(runs.map((run) => run.cpuRatio))),
      vs_ceiling_cpu_runs: runs.map((run) => round(run.cpuRatio)),
      ceiling_method:
        "jude serve in this process (ONNX Runtime CPU) through the gRPC client, best request size x concurrency, measured before and after every bootstrap run",
      request_size: best.batch,
      concurrency: best.concurrency,
      tokens_per_text: round(tokens.reduce((sum, each) => sum + each, 0) / tokens.length),
      repeats,
      redis: isCluster(redis) ? "cluster" : "standalone",
      load_average_before: round(loadBefore),
      machine: machineInfo(),
    };
  } finally {
    client.close();
    await server.close();
    await redis.quit().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One bootstrap of the whole snapshot into a fresh store; checks the result before timing counts. */
async function bootstrapOnce(
  redis: RedisClient,
  address: string,
  digest: string,
  snapshot: string,
  best: { batch: number; concurrency: number },
  entities: number,
  distinct: number,
): Promise<{
  seconds: number;
  cpuSeconds: number;
  requests: number;
  texts: number;
  failures: Record<string, number>;
}> {
  const storeName = `bench-bootstrap-${randomUUID().slice(0, 8)}`;
  const config = resolveShardIndex(
    bootstrapConfigSchema.parse({
      run: { name: "bench" },
      entity: "job",
      model: { version: "bench", digest, dimensions: 384, template: BENCH_TEMPLATE },
      decode: { keyPath: "$.id" },
      extract: BENCH_EXTRACT,
      embedding: { endpoint: address, maxBatchSize: best.batch, maxInflight: best.concurrency },
      store: { name: storeName, url: { env: "JUDE_REDIS_URL" } },
      source: { files: { uris: [pathToFileURL(snapshot).href] } },
      shards: { count: 1, index: 0 },
      batching: { maxEntities: 2048, inflightBatches: 3 },
      checkpoint: { progressIntervalMs: 60_000 },
    }),
    {},
  );
  const embedding = connectEmbedding(config.embedding, { modelDigest: digest, truncate: true });
  let requests = 0;
  let texts = 0;
  const failures: Record<string, number> = {};
  try {
    const meter = await cpuMeter(redis);
    const started = performance.now();
    const outcome = await runBootstrap(config, {
      logger: pino({ level: "silent" }),
      // Counted when answered: a failed call (retried by the shard) embedded nothing it could keep.
      embedCall: async (batch, signal) => {
        try {
          const vectors = await embedding.call(batch, signal);
          requests++;
          texts += batch.length;
          return vectors;
        } catch (error) {
          const code = (error as { statusName?: string }).statusName ?? (error as Error).name;
          failures[code] = (failures[code] ?? 0) + 1;
          throw error;
        }
      },
      isRetryableEmbedError: embedding.isRetryable,
    });
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = await meter();
    const store = await openStore(redis, { name: storeName });
    const counts = await countVersion(store, "bench");
    if (outcome.outcome !== "done" || counts.live !== entities || counts.texts !== distinct) {
      throw new Error(
        `bootstrap result is wrong: ${JSON.stringify({ outcome: outcome.outcome, counts, texts })}`,
      );
    }
    return { seconds, cpuSeconds, requests, texts, failures };
  } finally {
    embedding.close();
    await deleteKeysWithPrefix(redis, `jude:${storeName}`);
  }
}

/** The best request size and concurrency for this server on this machine (short runs of each). */
async function searchBestSetting(client: EmbeddingClient, redis: RedisClient, texts: readonly string[]) {
  let best = { batch: 32, concurrency: 2, rate: 0 };
  for (const batch of [32, 64, 128]) {
    for (const concurrency of [2, 4]) {
      const { rate } = await throughput(client, redis, texts, batch, concurrency);
      if (rate > best.rate) best = { batch, concurrency, rate };
    }
  }
  return best;
}

/** Texts per second embedding `texts` in requests of `batch` with `concurrency` requests in flight. */
async function throughput(
  client: EmbeddingClient,
  redis: RedisClient,
  texts: readonly string[],
  batch: number,
  concurrency: number,
): Promise<{ rate: number; cpuPerText: number }> {
  const meter = await cpuMeter(redis);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < texts.length) {
        const start = next;
        next += batch;
        await client.embed(texts.slice(start, start + batch), { truncate: true });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: texts.length / seconds, cpuPerText: (await meter()) / texts.length };
}

/**
 * CPU seconds used by this process (pipeline, gRPC, the ONNX Runtime worker) and by redis-server since
 * the call: unlike wall time, barely moved by other work on a shared machine.
 */
async function cpuMeter(redis: RedisClient): Promise<() => Promise<number>> {
  const redisCpu = async (): Promise<number> => {
    const info = await redis.info("cpu");
    const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
    return field("used_cpu_user") + field("used_cpu_sys");
  };
  const processStart = process.cpuUsage();
  const redisStart = await redisCpu();
  return async () => {
    const used = process.cpuUsage(processStart);
    return (used.user + used.system) / 1e6 + ((await redisCpu()) - redisStart);
  };
}

/** Runs from the command line: `[--json] [--entities N] [--repeats N]`. */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { json: { type: "boolean" }, entities: { type: "string" }, repeats: { type: "string" } },
  });
  const figures = await runBootstrapBench({
    ...(values.entities !== undefined ? { entities: Number(values.entities) } : {}),
    ...(values.repeats !== undefined ? { repeats: Number(values.repeats) } : {}),
  });
  if (!values.json) {
    console.log(
      `bootstrap: ${figures.entities} entities in ${figures.seconds} s (${figures.entities_per_s}/s), ` +
        `${figures.inference_calls} inferences for ${figures.distinct_texts} distinct texts (dedup x${figures.dedup_ratio}), ` +
        `${figures.distinct_texts_per_s} distinct texts/s = ${figures.vs_ceiling} of the serving ceiling ${figures.ceiling_texts_per_s}/s`,
    );
  }
  console.log(JSON.stringify(figures));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));

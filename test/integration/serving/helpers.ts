/**
 * Shared helpers of the serving integration tests: the real server (in-process or as `jude serve`
 * child process) on the testbed model, reference data, raw gRPC calls and certificates.
 */
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import { EmbeddingClient, type EmbedAnswer } from "../../../pipelines/embedding-client/client.ts";
import { parseServingConfig, type ServingConfigInput } from "../../../serving/config.ts";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { startEmbeddingServer, type EmbeddingServer } from "../../../serving/server.ts";
import { requireEnv } from "../../support/env.ts";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** The testbed model directory (JUDE_MODEL_DIR). */
export const modelDir = (): string => requireEnv("JUDE_MODEL_DIR");

/** reference.json: upstream token ids and sentence-transformers embeddings for fixed texts. */
export interface Reference {
  maxSequenceLength: number;
  items: Array<{ text: string; inputIds: number[]; embedding: number[] }>;
}

export async function readReference(): Promise<Reference> {
  return JSON.parse(await readFile(join(modelDir(), "reference.json"), "utf8")) as Reference;
}

/**
 * Starts the real server in this process on free ports of 127.0.0.1 (unless `listen` says otherwise),
 * CPU provider, and waits until it serves.
 */
export async function startServer(overrides: Partial<ServingConfigInput> = {}): Promise<EmbeddingServer> {
  const config = parseServingConfig({
    modelDir: modelDir(),
    logLevel: "silent",
    ...overrides,
    listen: { host: "127.0.0.1", grpcPort: 0, httpPort: 0, ...overrides.listen },
    backend: { executionProvider: "cpu", ...overrides.backend }, // the default workers and threads
  });
  const server = await startEmbeddingServer(config, { logger: pino({ level: "silent" }) });
  try {
    await server.ready;
  } catch (error) {
    await server.close();
    throw error;
  }
  return server;
}

/**
 * Runs `call` back to back for `durationMs`, or until `done()` is true; returns how many calls
 * succeeded and the failures.
 */
export async function callContinuously(
  until: number | { done(): boolean },
  call: () => Promise<unknown>,
): Promise<{ calls: number; failures: unknown[] }> {
  const deadline = typeof until === "number" ? Date.now() + until : undefined;
  const done = typeof until === "number" ? () => Date.now() >= (deadline ?? 0) : () => until.done();
  let calls = 0;
  const failures: unknown[] = [];
  while (!done()) {
    try {
      await call();
      calls++;
    } catch (error) {
      failures.push(error);
    }
  }
  return { calls, failures };
}

/** Cosine similarity. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] ?? 0;
    const y = b[index] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return dot / Math.sqrt(normA * normB);
}

/** Sends raw bytes to a unary method (for requests no well-behaved client can produce). */
export function rawUnary(
  address: string,
  path: string,
  body: Buffer,
  metadata = new Metadata(),
): Promise<ServiceError | Buffer> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      body,
      metadata,
      (error, response) => {
        client.close();
        resolve(error ?? (response as Buffer));
      },
    );
  });
}

/** A `jude serve` child process with its JSON log lines. */
export interface ServeProcess {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves with the first log line that matches. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/**
 * Runs `node cli/jude.ts serve …` and waits until it listens (not until the model is loaded). `env`
 * replaces the inherited environment when given.
 */
export async function spawnServe(args: string[], env?: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      "cli/jude.ts",
      "serve",
      "--model-dir",
      modelDir(),
      "--host",
      "127.0.0.1",
      "--grpc-port",
      "0",
      "--http-port",
      "0",
      ...args,
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], ...(env === undefined ? {} : { env }) },
  );
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    predicate: (line: Record<string, unknown>) => boolean;
    resolve(line: Record<string, unknown>): void;
  }> = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const waitForLog = (
    predicate: (line: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>> => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ predicate, resolve });
      void exited.then((code) =>
        reject(
          new Error(`jude serve exited (${code}) first; stderr: ${stderr}; logs: ${JSON.stringify(logs)}`),
        ),
      );
    });
  };
  const listening = await waitForLog((line) => typeof line.grpcPort === "number");
  return {
    child,
    grpcPort: listening.grpcPort as number,
    httpPort: listening.httpPort as number,
    logs,
    exited,
    waitForLog,
  };
}

/** About 256 tokens: a call of it takes long on the CPU, so drain tests find it still in flight. */
export const longDrainText =
  "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(20);

/** A gRPC client of one of the server's services, its methods called by name. */
export type GrpcStub = Client & Record<string, (...args: unknown[]) => unknown>;

/** A plaintext gRPC client of `service` on `127.0.0.1:port`, added to `clients` for the test to close. */
export function connectStub(service: "embedding" | "teiEmbed", port: number, clients: Client[]): GrpcStub {
  const client = new (loadProtos()[service])(`127.0.0.1:${port}`, credentials.createInsecure()) as GrpcStub;
  clients.push(client);
  return client;
}

/**
 * The `jude serve` a drain test file signals, and gRPC clients of it. Before the tests it runs on the
 * CPU in batches of two (a call of 16 longDrainText inputs takes a while, so the drain lasts until it
 * ends) with a 60 s drain timeout, its model loaded; after them, the clients `connect` opened are
 * closed and the server is killed if it still runs.
 */
export function useDrainedServe(): {
  serve: () => ServeProcess;
  connect: (service: "embedding" | "teiEmbed") => GrpcStub;
} {
  let serve: ServeProcess;
  const clients: Client[] = [];
  beforeAll(async () => {
    serve = await spawnServe(["--execution-provider=cpu", "--max-batch-size=2", "--drain-timeout-ms=60000"]);
    await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
    await serve.exited;
  });
  return {
    serve: () => serve,
    connect: (service) => connectStub(service, serve.grpcPort, clients),
  };
}

/**
 * `jude serve` on the CPU (two threads, batches of two) with `args` added, and `count` calls of
 * longDrainText sent on one gRPC client, admitted (the in-flight gauge says so) and still running;
 * `outcome` maps each call to what the test compares. Killed and closed by `cleanups`.
 */
export async function serveWithCallsInFlight<T>(
  args: string[],
  count: number,
  outcome: (call: Promise<EmbedAnswer>) => Promise<T>,
  cleanups: Array<() => Promise<unknown> | unknown>,
): Promise<{ serve: ServeProcess; calls: Promise<T[]> }> {
  const serve = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    ...args,
  ]);
  cleanups.push(() => serve.child.exitCode === null && serve.child.kill("SIGKILL"));
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  const client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}`, deadlineMs: 600_000 });
  cleanups.push(() => client.close());
  const calls = Promise.all(
    Array.from({ length: count }, () => outcome(client.embed([longDrainText], { truncate: true }))),
  );
  const inFlight = async (): Promise<number | undefined> =>
    metricValue(
      await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text(),
      "jude_serving_in_flight",
    );
  while ((await inFlight()) !== count);
  return { serve, calls };
}

/** Reads one metric value from a Prometheus text exposition. */
export function metricValue(exposition: string, name: string): number | undefined {
  const line = exposition.split("\n").find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

const execFileAsync = promisify(execFile);

/** A self-signed certificate for 127.0.0.1 and localhost (OpenSSL, as the testbed does for its PKI). */
export async function selfSignedCertificate(directory: string): Promise<{ cert: string; key: string }> {
  const cert = join(directory, "tls.crt");
  const key = join(directory, "tls.key");
  await execFileAsync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  return { cert, key };
}

/**
 * How far one component of a normalised vector may move when the same text is batched differently
 * (serving/README.md, "A vector is a function of (text, model version)"): batch shapes change the
 * order of float additions in ONNX Runtime's kernels (a few float32 ulps), and with int8 such a change
 * can in rare cases move one token's activation by one quantization step.
 */
export const BATCHING_TOLERANCE = { fp32: 1e-6, fp16: 1e-6, int8: 1e-4 } as const;

/** The largest absolute difference between two vectors' components (NaN-safe: a missing one is Infinity). */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let largest = 0;
  for (let index = 0; index < a.length; index++)
    largest = Math.max(largest, Math.abs((a[index] ?? 0) - (b[index] ?? 0)));
  return largest;
}

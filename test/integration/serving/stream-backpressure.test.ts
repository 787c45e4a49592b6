/**
 * Streams at scale: a TEI client streams 5,000 requests on one stream and gets every answer, in
 * order; a jude pipeline stream of 2,000 requests completes without RESOURCE_EXHAUSTED; the server
 * holds such a stream to its window by not reading ahead. An unbounded flood from many streams at
 * once is still refused with RESOURCE_EXHAUSTED, and the server serves normally afterwards.
 * The server's permits (64) are far below the requests of one stream, so without back-pressure the
 * first two cases would be refused after about 64 requests.
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { TeiGrpcClient } from "./clients/tei-grpc-client.ts";
import { TeiHttpClient } from "./clients/tei-http-client.ts";
import { BATCHING_TOLERANCE, maxAbsDifference, readReference, startServer } from "./helpers.ts";

const PERMITS = 64;
const PER_CALL = 32; // stream window: min(32, 64 - 32 + 1) = 32 inputs

let server: EmbeddingServer;
let teiGrpc: TeiGrpcClient;
let teiHttp: TeiHttpClient;
let corpus: string[];

beforeAll(async () => {
  server = await startServer({
    batching: { maxConcurrentRequests: PERMITS, maxBatchSize: 32 },
    limits: { maxInputsPerCall: PER_CALL },
  });
  teiGrpc = new TeiGrpcClient(`127.0.0.1:${server.grpcPort}`);
  teiHttp = new TeiHttpClient(`http://127.0.0.1:${server.httpPort}`);
  // 5,000 distinct short records (a shard of a corpus); neighbours differ in length, emoji included,
  // so an answer in the wrong place shows in its character count.
  corpus = Array.from({ length: 5_000 }, (_, index) => `record ${index} ${"ok🚀".repeat(index % 5)}`);
});
afterAll(async () => {
  teiGrpc?.close();
  await server?.close();
});

/** Resolves once no permit is held, that is once nothing is queued or computing. */
async function untilIdle(): Promise<void> {
  await vi.waitFor(() => expect(server.embedder.permits.inUse).toBe(0), { timeout: 120_000, interval: 100 });
}

/** The vectors of `texts` by TEI HTTP calls of PER_CALL texts (the order check's reference). */
async function vectorsByHttp(texts: readonly string[]): Promise<number[][]> {
  const vectors: number[][] = [];
  for (let start = 0; start < texts.length; start += PER_CALL)
    vectors.push(
      ...(await teiHttp.embed({ inputs: texts.slice(start, start + PER_CALL), truncate: true })).vectors,
    );
  return vectors;
}

describe("tei.v1 EmbedStream", () => {
  it(
    "answers all 5,000 requests of one stream, each in its request's place",
    { timeout: 600_000 },
    async () => {
      const answers = await teiGrpc.embedStream(corpus.map((inputs) => ({ inputs, truncate: true })));
      expect(answers).toHaveLength(corpus.length);
      // Each answer counts the characters of the request in its place...
      const misplaced = answers.flatMap((answer, index) =>
        answer.metadata.compute_chars === [...corpus[index]!].length ? [] : [index],
      );
      expect(misplaced).toEqual([]);
      // ...and carries that request's vector (a vector depends on its text only, see BATCHING_TOLERANCE).
      const expected = await vectorsByHttp(corpus);
      const wrong = answers.flatMap((answer, index) =>
        maxAbsDifference(answer.embeddings, expected[index]!) <= BATCHING_TOLERANCE.fp32 ? [] : [index],
      );
      expect(wrong).toEqual([]);
      expect(server.embedder.permits.inUse).toBe(0);
    },
  );

  it(
    "refuses an unbounded flood from many streams with RESOURCE_EXHAUSTED and keeps serving",
    { timeout: 300_000 },
    async () => {
      // 12 streams x a full window of long texts = 384 inputs in flight at once against 64 permits.
      const long = (await readReference()).items
        .map((item) => item.text)
        .sort((a, b) => b.length - a.length)[0]!;
      const streams = Array.from({ length: 12 }, () => new TeiGrpcClient(`127.0.0.1:${server.grpcPort}`));
      try {
        const outcomes = await Promise.allSettled(
          streams.map((client, stream) =>
            client.embedStream(
              Array.from({ length: 200 }, (_, index) => ({
                inputs: `${long} ${stream}.${index}`,
                truncate: true,
              })),
            ),
          ),
        );
        const refused = outcomes.filter(
          (outcome) =>
            outcome.status === "rejected" &&
            (outcome.reason as ServiceError).code === status.RESOURCE_EXHAUSTED,
        );
        const completed = outcomes.filter((outcome) => outcome.status === "fulfilled");
        expect(refused.length).toBeGreaterThan(0);
        expect(refused.length + completed.length).toBe(streams.length);
      } finally {
        streams.forEach((client) => client.close());
      }
      // The refused streams' inputs leave the queue (dropped before inference) and free their permits.
      await untilIdle();
      const after = await teiGrpc.embedStream(
        corpus.slice(0, 50).map((inputs) => ({ inputs, truncate: true })),
      );
      expect(after).toHaveLength(50);
    },
  );
});

describe("jude.embedding.v1 EmbedStream", () => {
  it(
    "answers 2,000 requests of 2 inputs on one stream without RESOURCE_EXHAUSTED",
    { timeout: 600_000 },
    async () => {
      await untilIdle();
      const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
      const stream = client.stream();
      try {
        const texts = corpus.slice(0, 4_000);
        const answers = await Promise.allSettled(
          Array.from({ length: 2_000 }, (_, index) =>
            stream.embed(texts.slice(2 * index, 2 * index + 2), { truncate: true }),
          ),
        );
        const failures = answers.flatMap((answer) =>
          answer.status === "rejected" ? [String(answer.reason)] : [],
        );
        expect(failures.slice(0, 3)).toEqual([]);
        const expected = await vectorsByHttp(texts.slice(0, 64));
        const first = answers
          .slice(0, 32)
          .flatMap((answer) => (answer.status === "fulfilled" ? answer.value.vectors : []));
        first.forEach((vector, index) =>
          expect(maxAbsDifference(vector, expected[index]!)).toBeLessThanOrEqual(BATCHING_TOLERANCE.fp32),
        );
      } finally {
        stream.close();
        client.close();
      }
    },
  );
});

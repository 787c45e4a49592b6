/**
 * Requests an EmbedStream reads once it was asked to end are not embedded: jude's stream answers each
 * in-stream with UNAVAILABLE, TEI's ends with it; one read after the stream ended (its window held
 * it back until the requests in flight were answered) is not answered. Refused by a drain, each is
 * counted once in jude_serving_requests_total as UNAVAILABLE, as when such requests went to the
 * draining embedder (before streams stopped embedding them, they were no longer counted). Refused at
 * the connection's maximum age, they are not: every streaming client meets it every
 * maxConnectionAgeMs, and the chart's JudeServingErrors pages on UNAVAILABLE above 1% of requests.
 */
import { status, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { connectStub, longDrainText, startServer, type GrpcStub } from "./helpers.ts";

const clients: Client[] = [];
const servers: EmbeddingServer[] = [];

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(servers.map((server) => server.close()));
});

const connect = (server: EmbeddingServer, service: "embedding" | "teiEmbed"): GrpcStub =>
  connectStub(service, server.grpcPort, clients);

async function unavailableCount(server: EmbeddingServer, method: string): Promise<number> {
  const { values } = await server.metrics.requests.get();
  return values
    .filter(({ labels }) => labels.method === method && labels.code === "UNAVAILABLE")
    .reduce((sum, { value }) => sum + value, 0);
}

/**
 * Counts a stream's answers (also in `seen`) until it ends; resolves with them and how it ended
 * ("OK" when it ended OK).
 */
function answers(
  stream: ClientDuplexStream<unknown, { error?: unknown }>,
  seen: { answers: number },
): Promise<{ ok: number; errorsInStream: number; end: string }> {
  let ok = 0;
  let errorsInStream = 0;
  return new Promise((resolve) => {
    stream.on("data", (message) => {
      seen.answers++;
      if (message.error !== undefined && message.error !== null) errorsInStream++;
      else ok++;
    });
    stream.once("error", (error: ServiceError) =>
      resolve({
        ok,
        errorsInStream,
        end: `${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}`,
      }),
    );
    stream.once("status", (end: { code: number }) => {
      if (end.code === status.OK) resolve({ ok, errorsInStream, end: "OK" });
    });
  });
}

it.each([
  { case: "open", halfClose: false },
  { case: "half-closed before the drain, its window still holding requests back", halfClose: true },
])(
  "counts every request a draining EmbedStream ($case) refuses as UNAVAILABLE, once",
  async ({ halfClose }) => {
    // A window of one input per stream (maxInputsPerCall 1): a stream reads its next request only once
    // the one before is answered. Each stream gets REQUESTS requests at once (together within its
    // HTTP/2 flow-control window, so they all reach the server); the drain starts while both streams
    // have one in flight (each holds one permit), so the others, written before the drain, are read
    // after its start, here once the stream has ended (jude's would answer one read before that
    // DRAINING in-stream). Either way each is refused and counted once; its client resends it. A
    // client that half-closed after them has not sent all its requests as far as the stream knows:
    // the half-close is read after them, so its stream ends DRAINING too, not OK.
    const REQUESTS = 8;
    const server = await startServer({ limits: { maxInputsPerCall: 1 } });
    servers.push(server);
    const judeStream = connect(server, "embedding").EmbedStream!() as ClientDuplexStream<
      unknown,
      { error?: unknown }
    >;
    const teiStream = connect(server, "teiEmbed").EmbedStream!() as ClientDuplexStream<
      unknown,
      { error?: unknown }
    >;
    const seen = { answers: 0 };
    const judeAnswers = answers(judeStream, seen);
    const teiAnswers = answers(teiStream, seen);
    for (let sent = 0; sent < REQUESTS; sent++) {
      judeStream.write({ inputs: [{ text: longDrainText }], truncate: true });
      teiStream.write({ inputs: longDrainText, truncate: true });
    }
    if (halfClose) {
      judeStream.end();
      teiStream.end();
    }
    while (server.embedder.permits.inUse < 2 && seen.answers < 2 * REQUESTS) await new Promise(setImmediate);
    const drain = server.drain(60_000); // in the tick of the check: both requests are still in flight
    const [jude, tei] = await Promise.all([judeAnswers, teiAnswers]);
    await drain;
    expect(jude.end).toBe("UNAVAILABLE JUDE_SERVING_DRAINING");
    expect(tei.end).toBe("UNAVAILABLE JUDE_SERVING_DRAINING");
    expect(jude.ok).toBeLessThan(REQUESTS);
    expect(tei.ok).toBeLessThan(REQUESTS);
    expect(tei.errorsInStream).toBe(0); // TEI's stream ends instead
    expect(await unavailableCount(server, "EmbedStream")).toBe(REQUESTS - jude.ok);
    expect(await unavailableCount(server, "tei.EmbedStream")).toBe(REQUESTS - tei.ok);
  },
  120_000,
);

/**
 * Keeps REQUESTS requests written and unanswered on a stream (one written for each answer) until the
 * stream ends; resolves with its answers, those that are errors, and how it ended.
 */
function pipelined(
  stream: ClientDuplexStream<unknown, { error?: unknown }>,
  request: unknown,
  requests: number,
): Promise<{ ok: number; errorsInStream: number; end: string }> {
  let ok = 0;
  let errorsInStream = 0;
  return new Promise((resolve) => {
    stream.on("data", (message) => {
      if (message.error !== undefined && message.error !== null) errorsInStream++;
      else ok++;
      stream.write(request);
    });
    stream.once("error", (error: ServiceError) =>
      resolve({
        ok,
        errorsInStream,
        end: `${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}`,
      }),
    );
    for (let sent = 0; sent < requests; sent++) stream.write(request);
  });
}

/** How many requests of `method` jude_serving_requests_total counts, whatever their code. */
async function countedRequests(server: EmbeddingServer, method: string): Promise<number> {
  const { values } = await server.metrics.requests.get();
  return values.filter(({ labels }) => labels.method === method).reduce((sum, { value }) => sum + value, 0);
}

it("does not count the requests refused at the connection's maximum age", async () => {
  // A window of two inputs per stream (maxInputsPerCall 2), batches of one text on one worker: a
  // stream always holds two requests in flight, embedded one after the other, with more read
  // behind them (eight written and unanswered at all times). Whenever the age comes, the first of
  // the two is answered while the second is still in flight, so the stream reads the requests
  // behind it once asked to end: jude's answers them MAX_CONNECTION_AGE in-stream, TEI's ends with
  // it. None of those is counted, under any code: only the answered requests are.
  const REQUESTS = 8;
  const server = await startServer({
    limits: { maxConnectionAgeMs: 1_000, maxInputsPerCall: 2 },
    batching: { maxBatchSize: 1 },
    backend: { inferenceWorkers: 1 },
  });
  servers.push(server);
  const [jude, tei] = await Promise.all([
    pipelined(
      connect(server, "embedding").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
      { inputs: [{ text: longDrainText }], truncate: true },
      REQUESTS,
    ),
    pipelined(
      connect(server, "teiEmbed").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
      { inputs: longDrainText, truncate: true },
      REQUESTS,
    ),
  ]);
  expect(jude.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
  expect(tei.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
  expect(jude.errorsInStream).toBeGreaterThan(0); // refused requests were read, and answered
  expect(tei.errorsInStream).toBe(0); // TEI's stream ends instead
  expect(await unavailableCount(server, "EmbedStream")).toBe(0);
  expect(await unavailableCount(server, "tei.EmbedStream")).toBe(0);
  expect(await countedRequests(server, "EmbedStream")).toBe(jude.ok);
  expect(await countedRequests(server, "tei.EmbedStream")).toBe(tei.ok);
}, 120_000);

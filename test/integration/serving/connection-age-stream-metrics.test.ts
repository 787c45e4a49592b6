/**
 * Requests an EmbedStream reads once it was asked to end are not embedded: jude's stream answers each
 * in-stream with UNAVAILABLE, TEI's ends with it. Refused by a drain, each is counted in
 * jude_serving_requests_total as UNAVAILABLE, as when such requests went to the draining embedder
 * (before streams stopped embedding them, they were no longer counted). Refused at the connection's
 * maximum age, they are not: every streaming client meets it every maxConnectionAgeMs, and the
 * chart's JudeServingErrors pages on UNAVAILABLE above 1% of requests.
 */
import { status, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { connectStub, startServer, type GrpcStub } from "./helpers.ts";

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
 * Keeps eight requests in flight on a stream (a request written for each answer) until the stream
 * ends, so some are read after it was asked to end; `onAnswer` sees each answer. Counts the answers
 * that are errors.
 */
function pipelined(
  stream: ClientDuplexStream<unknown, { error?: unknown }>,
  request: () => unknown,
  onAnswer: () => void = () => {},
): Promise<{ errorsInStream: number; end: string }> {
  let errorsInStream = 0;
  return new Promise((resolve) => {
    stream.on("data", (message) => {
      if (message.error !== undefined && message.error !== null) errorsInStream++;
      onAnswer();
      stream.write(request());
    });
    stream.once("error", (error: ServiceError) =>
      resolve({
        errorsInStream,
        end: `${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}`,
      }),
    );
    for (let sent = 0; sent < 8; sent++) stream.write(request());
  });
}

const judeRequest = () => ({ inputs: [{ text: "a pipeline streaming its corpus" }] });
const teiRequest = () => ({ inputs: "a TEI client streaming its corpus" });

it("counts the requests a draining EmbedStream refuses as UNAVAILABLE", async () => {
  const server = await startServer();
  servers.push(server);
  let drain: Promise<boolean> | undefined;
  // The drain starts once both streams have had answers.
  let answered = 0;
  const startDrain = (): void => {
    if (++answered === 16) drain = server.drain(60_000);
  };
  const [jude, tei] = await Promise.all([
    pipelined(
      connect(server, "embedding").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
      judeRequest,
      startDrain,
    ),
    pipelined(
      connect(server, "teiEmbed").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
      teiRequest,
      startDrain,
    ),
  ]);
  await drain;
  expect(jude.end).toBe("UNAVAILABLE JUDE_SERVING_DRAINING");
  expect(tei.end).toBe("UNAVAILABLE JUDE_SERVING_DRAINING");
  expect(jude.errorsInStream).toBeGreaterThan(0);
  expect(await unavailableCount(server, "EmbedStream")).toBe(jude.errorsInStream);
  expect(await unavailableCount(server, "tei.EmbedStream")).toBeGreaterThan(0);
}, 120_000);

it("does not count the requests refused at the connection's maximum age as UNAVAILABLE", async () => {
  const server = await startServer({ limits: { maxConnectionAgeMs: 1_000 } });
  servers.push(server);
  const [jude, tei] = await Promise.all([
    pipelined(
      connect(server, "embedding").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
      judeRequest,
    ),
    pipelined(
      connect(server, "teiEmbed").EmbedStream!() as ClientDuplexStream<unknown, { error?: unknown }>,
      teiRequest,
    ),
  ]);
  expect(jude.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
  expect(tei.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
  expect(jude.errorsInStream).toBeGreaterThan(0);
  expect(await unavailableCount(server, "EmbedStream")).toBe(0);
  expect(await unavailableCount(server, "tei.EmbedStream")).toBe(0);
}, 120_000);

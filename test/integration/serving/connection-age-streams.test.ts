/**
 * An EmbedStream on a connection that reaches limits.maxConnectionAgeMs (a pipeline streaming a corpus
 * for longer than the age) is asked to finish, as a drain asks it: its requests in flight are answered,
 * then the server ends it with UNAVAILABLE MAX_CONNECTION_AGE (retryable), and its client opens a new
 * stream on a new connection, through the Service to any replica. Before, the server sent GOAWAY at
 * the age and cut the stream mid-flight 30 s later (the age's grace), its answers in flight lost.
 * Shown on jude's EmbedStream and on TEI's, each kept busy one request at a time.
 */
import type { Client, Metadata } from "@grpc/grpc-js";
import { status, type ClientDuplexStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { connectStub, startServer, type GrpcStub } from "./helpers.ts";

let server: EmbeddingServer;
const clients: Client[] = [];

beforeAll(async () => {
  server = await startServer({ limits: { maxConnectionAgeMs: 1_000 } });
});
afterAll(async () => {
  for (const client of clients) client.close();
  await server.close();
});

const connect = (service: "embedding" | "teiEmbed"): GrpcStub =>
  connectStub(service, server.grpcPort, clients);

/** What a stream kept busy (the next request sent once the last is answered) saw until it ended. */
function keepBusy(
  stream: ClientDuplexStream<unknown, unknown>,
  request: () => unknown,
): Promise<{ sent: number; answered: number; errorsInStream: number; end: string }> {
  let sent = 0;
  let answered = 0;
  let errorsInStream = 0;
  return new Promise((resolve) => {
    const send = () => {
      sent++;
      stream.write(request());
    };
    stream.on("data", (message: { error?: unknown }) => {
      answered++;
      if (message.error !== undefined && message.error !== null) errorsInStream++;
      send();
    });
    stream.once("error", (error: Error & { code: number; metadata: Metadata }) =>
      resolve({
        sent,
        answered,
        errorsInStream,
        end: `${status[error.code]} ${String(error.metadata.get("jude-error-code")[0])}`,
      }),
    );
    stream.once("status", (end: { code: number }) => {
      if (end.code === status.OK) resolve({ sent, answered, errorsInStream, end: "OK" });
    });
    send();
  });
}

it("ends a stream at its connection's maximum age with a retryable UNAVAILABLE after its answers in flight", async () => {
  const jude = connect("embedding");
  const tei = connect("teiEmbed");
  const [judeSeen, teiSeen] = await Promise.all([
    keepBusy(jude.EmbedStream!() as ClientDuplexStream<unknown, unknown>, () => ({
      inputs: [{ text: "a pipeline streaming its corpus" }],
    })),
    keepBusy(tei.EmbedStream!() as ClientDuplexStream<unknown, unknown>, () => ({
      inputs: "a TEI client streaming its corpus",
    })),
  ]);
  for (const seen of [judeSeen, teiSeen]) {
    expect(seen.end).toBe("UNAVAILABLE JUDE_SERVING_MAX_CONNECTION_AGE");
    expect(seen.errorsInStream).toBe(0);
    // Every request was answered but, at most, the one sent as the end was on its way.
    expect(seen.answered).toBeGreaterThanOrEqual(seen.sent - 1);
  }
  // The client's next stream goes on a new connection and is answered.
  const next = jude.EmbedStream!() as ClientDuplexStream<unknown, unknown>;
  // It ends as it may (this connection ages too), once the answer is in.
  const over = new Promise((resolve) => {
    next.once("error", resolve);
    next.once("status", resolve);
  });
  const answer = new Promise<{ error?: unknown }>((resolve) => next.once("data", resolve));
  next.write({ inputs: [{ text: "on a new connection" }] });
  expect((await answer).error ?? undefined).toBeUndefined();
  next.end();
  await over;
}, 120_000);

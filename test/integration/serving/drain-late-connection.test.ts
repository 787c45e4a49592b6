/**
 * A connection opened to a server that already drains (a Service's endpoints are updated late, so a
 * client still reaches the stopping pod) must get GOAWAY after its first call, as the connections open
 * at the drain's start do: the client's next calls then go on a new connection, through the Service
 * to a replica that serves. Before, such a connection got no GOAWAY until the server stopped, and
 * every call a channel made on it was refused UNAVAILABLE DRAINING for the whole drain. The first
 * call is still answered (a health check says NOT_SERVING), so probes and clients see why.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { type ClientHttp2Session, connect, constants, type SecureClientSessionOptions } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { longDrainText, selfSignedCertificate, serveWithCallsInFlight, startServer } from "./helpers.ts";

const IN_FLIGHT = 24;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/**
 * Opens a new connection to `authority`, sends one health Check on it and returns what it got: the
 * Check's status and answer, and the GOAWAY's code with whether the drain still ran when it came.
 */
async function lateConnection(
  authority: string,
  options: SecureClientSessionOptions,
  drainRunning: () => boolean,
): Promise<{
  grpcStatus: string | undefined;
  answer: Buffer;
  goaway: { code: number; drainRunning: boolean };
}> {
  const session = connect(authority, options);
  cleanups.push(() => session.destroy());
  session.on("error", () => {});
  const goaway = new Promise<{ code: number; drainRunning: boolean }>((resolve) =>
    session.once("goaway", (code) => resolve({ code, drainRunning: drainRunning() })),
  );
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest (the server's overall status).
  const check = session.request({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Check",
    "content-type": "application/grpc",
    te: "trailers",
  });
  const chunks: Buffer[] = [];
  check.on("data", (chunk: Buffer) => chunks.push(chunk));
  const grpcStatus = new Promise<string | undefined>((resolve) => {
    check.on("trailers", (trailers) => resolve(trailers["grpc-status"] as string | undefined));
    check.on("close", () => resolve(undefined));
  });
  check.end(Buffer.from([0, 0, 0, 0, 0]));
  return { grpcStatus: await grpcStatus, answer: Buffer.concat(chunks), goaway: await goaway };
}

/**
 * Starts IN_FLIGHT long embeds on `client` and resolves once `server` runs them all, with their
 * outcomes to come ("answered" or "failed"; wrapped, or awaiting this would wait for them too).
 */
async function embedsInFlight(
  client: EmbeddingClient,
  server: { embedder: { inFlight: number } },
): Promise<{ calls: Promise<string[]> }> {
  const calls = Promise.all(
    Array.from({ length: IN_FLIGHT }, () =>
      client.embed([longDrainText], { truncate: true }).then(
        () => "answered",
        () => "failed",
      ),
    ),
  );
  while (server.embedder.inFlight !== IN_FLIGHT) await new Promise((resolve) => setTimeout(resolve, 10));
  return { calls };
}

/** What a late connection gets: its Check answered NOT_SERVING (2), then GOAWAY while the drain runs. */
const EXPECTED = {
  grpcStatus: "0",
  answer: Buffer.from([0, 0, 0, 0, 2, 0x08, 0x02]), // length-prefixed HealthCheckResponse{status: 2}
  goaway: { code: constants.NGHTTP2_NO_ERROR, drainRunning: true },
};

it("sends GOAWAY on a connection opened during the drain, after answering its first call", async () => {
  // The calls in flight take many seconds, so the drain is still running when the new connection comes.
  let callsSettled = false;
  const { serve, calls } = await serveWithCallsInFlight(
    ["--drain-timeout-ms=600000"],
    IN_FLIGHT,
    (call) =>
      call.then(
        () => "answered",
        () => "failed",
      ),
    cleanups,
  );
  void calls.then(() => (callsSettled = true));

  serve.child.kill("SIGTERM");
  await serve.waitForLog((line) => line.msg === "draining");

  expect(
    await lateConnection(
      `http://127.0.0.1:${serve.grpcPort}`,
      {},
      () => !callsSettled && serve.child.exitCode === null,
    ),
  ).toEqual(EXPECTED);
  expect(await serve.exited).toBe(0);
  expect(await calls).toEqual(Array.from({ length: IN_FLIGHT }, () => "answered"));
});

it("sends GOAWAY on a connection opened during the drain on the TLS port too", async () => {
  const { cert, key } = await selfSignedCertificate(await mkdtemp(join(tmpdir(), "jude-tls-")));
  const ca = await readFile(cert);
  const server = await startServer({
    tls: { certFile: cert, keyFile: key },
    backend: { intraOpThreads: 2 },
    batching: { maxBatchSize: 2 },
  });
  cleanups.push(() => server.close());
  const client = new EmbeddingClient({
    address: `127.0.0.1:${server.grpcPort}`,
    tls: { ca, serverName: "localhost" },
    deadlineMs: 600_000,
  });
  cleanups.push(() => client.close());
  const { calls } = await embedsInFlight(client, server);

  const drained = server.drain(600_000);

  // The drain runs while the server has calls in flight (it answers them before it closes connections).
  expect(
    await lateConnection(
      `https://127.0.0.1:${server.grpcPort}`,
      { ca, servername: "localhost" },
      () => server.embedder.inFlight > 0,
    ),
  ).toEqual(EXPECTED);
  expect(await drained).toBe(true);
  expect(await calls).toEqual(Array.from({ length: IN_FLIGHT }, () => "answered"));
});

it("leaves alone the connections of another server in the process on the same port number", async () => {
  // Two servers on one port number, on two addresses: the drain of one sends no GOAWAY to the other's
  // connections (it once told them apart by the port alone).
  const draining = await startServer({ backend: { intraOpThreads: 2 }, batching: { maxBatchSize: 2 } });
  cleanups.push(() => draining.close());
  const other = await startServer({
    listen: { host: "127.0.0.2", grpcPort: draining.grpcPort, httpPort: 0 },
  });
  cleanups.push(() => other.close());
  expect(other.grpcPort).toBe(draining.grpcPort);
  const client = new EmbeddingClient({ address: `127.0.0.1:${draining.grpcPort}`, deadlineMs: 600_000 });
  cleanups.push(() => client.close());
  const { calls } = await embedsInFlight(client, draining);
  const drained = draining.drain(600_000);

  const session = connect(`http://127.0.0.2:${other.grpcPort}`);
  cleanups.push(() => session.destroy());
  session.on("error", () => {});
  const goaways: number[] = [];
  session.on("goaway", (code) => goaways.push(code));
  // Two health Checks, one after the other, on one connection: a GOAWAY would come before the first
  // answer's end (it is sent as the first call arrives) and refuse the second.
  const answers = [await check(session), await check(session)];
  const drainRunning = draining.embedder.inFlight > 0;
  expect({ answers, goaways, drainRunning }).toEqual({
    answers: [SERVING, SERVING],
    goaways: [],
    drainRunning: true,
  });
  expect(await drained).toBe(true);
  expect(await calls).toEqual(Array.from({ length: IN_FLIGHT }, () => "answered"));
});

it("leaves alone the connections of another server in the process on the same port number when it closes", async () => {
  // Closing at once cuts the TCP connections left on the gRPC port; those of another server on the same
  // port number at another address are not this server's to cut.
  const closing = await startServer();
  cleanups.push(() => closing.close());
  const other = await startServer({ listen: { host: "127.0.0.2", grpcPort: closing.grpcPort, httpPort: 0 } });
  cleanups.push(() => other.close());
  expect(other.grpcPort).toBe(closing.grpcPort);
  const session = connect(`http://127.0.0.2:${other.grpcPort}`);
  cleanups.push(() => session.destroy());
  session.on("error", () => {});
  const before = await check(session);
  // A connection to the closing server too, so that the close has connections left to cut.
  const own = connect(`http://127.0.0.1:${closing.grpcPort}`);
  cleanups.push(() => own.destroy());
  own.on("error", () => {});
  await check(own);

  await closing.close();

  expect([before, await check(session)]).toEqual([SERVING, SERVING]);
});

/** A health Check's answer when the server serves: grpc-status 0, HealthCheckResponse{status: 1}. */
const SERVING = { grpcStatus: "0", answer: Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]) };

/** One health Check (the server's overall status) on `session`: its grpc-status and answer. */
function check(session: ClientHttp2Session): Promise<{ grpcStatus: string | undefined; answer: Buffer }> {
  const call = session.request({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Check",
    "content-type": "application/grpc",
    te: "trailers",
  });
  const chunks: Buffer[] = [];
  call.on("data", (chunk: Buffer) => chunks.push(chunk));
  call.on("error", () => {});
  call.end(Buffer.from([0, 0, 0, 0, 0]));
  return new Promise((resolve) => {
    call.on("trailers", (trailers) =>
      resolve({ grpcStatus: trailers["grpc-status"] as string | undefined, answer: Buffer.concat(chunks) }),
    );
    call.on("close", () => resolve({ grpcStatus: undefined, answer: Buffer.concat(chunks) }));
  });
}

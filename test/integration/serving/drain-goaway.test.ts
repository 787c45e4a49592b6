/**
 * A drain while a gRPC client holds a connection to the pod (a nearline worker's channel behind a
 * Kubernetes Service: one HTTP/2 connection to one pod). The drain must send GOAWAY on that connection
 * at its start: the client's next calls go on a new connection, through the Service to a replica that
 * serves, while the calls in flight finish on the old one. Without the GOAWAY every new call of the
 * channel went to the draining pod and was refused UNAVAILABLE DRAINING until the pod exited (up to
 * drainTimeoutMs), although the other replicas served.
 *
 * Server A (drained) and server B stand behind a TCP balancer that, like kube-proxy, picks a backend
 * per connection (round robin: the client's first connection reaches A, its next one B). Plaintext:
 * A is `jude serve`, signalled with SIGTERM. TLS: both serve in process, A is drained by `drain()`.
 */
import { credentials, type ChannelCredentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  EmbeddingClient,
  EmbeddingClientError,
  type EmbeddingClientOptions,
  type EmbedAnswer,
} from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { startBalancer } from "../../support/tcp-balancer.ts";
import {
  callContinuously,
  metricValue,
  selfSignedCertificate,
  spawnServe,
  startServer,
  type ServeProcess,
} from "./helpers.ts";

const IN_FLIGHT = 24;
const longText = "Staff software engineer building data platforms with Kafka, Flink and Kubernetes. ".repeat(
  20,
);

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The server to drain, however it runs. */
interface Drained {
  grpcPort: number;
  /** Calls the server has admitted and not answered yet. */
  inFlight(): Promise<number | undefined>;
  /** Starts the drain; resolves once it has started. */
  startDrain(): Promise<void>;
  /** Whether the drain has finished (the server stopped). */
  stopped(): boolean;
  /** Resolves when the server has stopped; true for a complete drain. */
  finished: Promise<boolean>;
}

/** A health Check on a new connection to `port`. */
async function healthCheck(port: number, channelCredentials: ChannelCredentials): Promise<string> {
  const health = new (loadProtos().health)(`127.0.0.1:${port}`, channelCredentials, {
    "grpc.ssl_target_name_override": "localhost",
  }) as Client &
    Record<
      string,
      (request: unknown, callback: (error: ServiceError | null, answer?: { status: string }) => void) => void
    >;
  try {
    return await new Promise((resolve, reject) =>
      health.Check!({ service: "jude.embedding.v1.EmbeddingService" }, (error, answer) =>
        error ? reject(error) : resolve(answer?.status ?? ""),
      ),
    );
  } finally {
    health.close();
  }
}

async function drainUnderSteadyCalls(
  serverA: Drained,
  serverB: EmbeddingServer,
  clientOptions: Omit<EmbeddingClientOptions, "address">,
  channelCredentials: ChannelCredentials,
): Promise<void> {
  const balancer = await startBalancer([serverA.grpcPort, serverB.grpcPort]);
  cleanups.push(() => balancer.close());
  const client = new EmbeddingClient({
    ...clientOptions,
    address: `127.0.0.1:${balancer.port}`,
    deadlineMs: 120_000,
  });
  cleanups.push(() => client.close());
  expect((await client.embed(["a call before the drain"])).vectors).toHaveLength(1);
  expect(balancer.answeredBytes[1]).toBe(0); // the channel's one connection is on A

  const inFlight: Array<Promise<EmbedAnswer>> = Array.from({ length: IN_FLIGHT }, () =>
    client.embed([longText], { truncate: true }),
  );
  while ((await serverA.inFlight()) !== IN_FLIGHT);

  await serverA.startDrain();

  // The channel goes on calling, one call after another, until A has stopped.
  let aStopped = false;
  void serverA.finished.then(() => (aStopped = true));
  let answeredWhileADrained = 0;
  const steady = callContinuously({ done: () => aStopped }, async () => {
    await client.embed(["a steady call"]);
    if (!serverA.stopped()) answeredWhileADrained++;
  });

  // A new connection that still reaches A (a Service's endpoints are updated late) is refused.
  const direct = new EmbeddingClient({ ...clientOptions, address: `127.0.0.1:${serverA.grpcPort}` });
  try {
    const refused = await direct.embed(["a call on a new connection to A"]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(EmbeddingClientError);
    expect((refused as EmbeddingClientError).statusName).toBe("UNAVAILABLE");
    expect((refused as EmbeddingClientError).errorCode).toBe("JUDE_SERVING_DRAINING");
  } finally {
    direct.close();
  }
  expect(await healthCheck(serverA.grpcPort, channelCredentials)).toBe("NOT_SERVING");

  const answers = await Promise.all(inFlight);
  expect(answers.every((answer) => answer.vectors[0]?.length === 384)).toBe(true);
  expect(await serverA.finished).toBe(true);
  const outcome = await steady;
  expect(outcome.failures.map(String)).toEqual([]);
  expect(answeredWhileADrained).toBeGreaterThan(0);
  expect(balancer.answeredBytes[1]).toBeGreaterThan(0);
}

it("on SIGTERM sends GOAWAY (plaintext): the channel's next calls go to another replica, the calls in flight finish", async () => {
  // Batches of two 256-token inputs: the calls in flight take a while, so the drain lasts while the
  // client goes on calling.
  const serve: ServeProcess = await spawnServe([
    "--execution-provider=cpu",
    "--intra-op-threads=2",
    "--max-batch-size=2",
    "--drain-timeout-ms=60000",
  ]);
  cleanups.push(() => serve.child.exitCode === null && serve.child.kill("SIGKILL"));
  const serverB = await startServer();
  cleanups.push(() => serverB.close());
  await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  const stopped = (): boolean => serve.logs.some((line) => line.msg === "stopped");
  await drainUnderSteadyCalls(
    {
      grpcPort: serve.grpcPort,
      // The in-flight gauge is exact: permits in use.
      inFlight: async () =>
        metricValue(
          await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text(),
          "jude_serving_in_flight",
        ),
      startDrain: async () => {
        serve.child.kill("SIGTERM");
        await serve.waitForLog((line) => line.msg === "draining");
      },
      stopped,
      finished: serve.exited.then((code) => code === 0 && stopped()),
    },
    serverB,
    {},
    credentials.createInsecure(),
  );
  expect(serve.logs.find((line) => line.msg === "stopped")).toMatchObject({ completed: true });
});

it("sends GOAWAY on the TLS port too", async () => {
  const { cert, key } = await selfSignedCertificate(await mkdtemp(join(tmpdir(), "jude-tls-")));
  const ca = await readFile(cert);
  const tls = { certFile: cert, keyFile: key };
  const serverA = await startServer({
    tls,
    backend: { intraOpThreads: 2 },
    batching: { maxBatchSize: 2 },
  });
  cleanups.push(() => serverA.close());
  const serverB = await startServer({ tls });
  cleanups.push(() => serverB.close());
  let stopped = false;
  const finished = Promise.withResolvers<boolean>();
  await drainUnderSteadyCalls(
    {
      grpcPort: serverA.grpcPort,
      inFlight: async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return serverA.embedder.inFlight;
      },
      startDrain: async () => {
        serverA.drain(60_000).then((completed) => {
          stopped = true;
          finished.resolve(completed);
        }, finished.reject);
      },
      stopped: () => stopped,
      finished: finished.promise,
    },
    serverB,
    { tls: { ca, serverName: "localhost" } },
    credentials.createSsl(ca),
  );
});

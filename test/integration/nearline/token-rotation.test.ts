/**
 * Rotating the embedding server's bearer token under a running worker, against the real server and
 * a real worker (Kafka and Redis of the testbed). Both read their token from a file laid out as the
 * kubelet lays out a Secret volume (`token -> ..data/token`, `..data -> ..<timestamp>/`) and rotated
 * as the kubelet does it: a new directory, then `..data` swapped to it by an atomic rename. Each side
 * gets the new token at its own moment, in both orders; the worker keeps running and every record is
 * stored once, as of its newest event. A wrong token still stops the worker with UNAUTHENTICATED.
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClientError } from "../../../pipelines/embedding-client/client.ts";
import type { NearlineConfig } from "../../../pipelines/nearline/config.ts";
import { connectRedis, openStore, type RedisClient } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { startTestEmbeddingServer, type TestEmbeddingServer } from "../../support/embedding-server.ts";
import { createTopics, produceEvents, uniqueTopic, type TestEvent } from "../../support/kafka.ts";
import { metricSum } from "../../support/nearline-processes.ts";
import { SecretVolume, refusedCalls as refusedBy, untilServerAccepts } from "../../support/secret-volume.ts";
import {
  expectedFinalState,
  expectStoreMatches,
  jobEvent,
  nearlineConfig,
  startInProcessNearline,
} from "../../support/nearline.ts";
import { probe } from "../../testbed/http-probe.ts";
import { waitFor } from "../../testbed/wait.ts";

const version = "minilm-tokenrot";

let embedding: TestEmbeddingServer;
let redis: RedisClient;
const serverVolume = new SecretVolume("token-1");

beforeAll(async () => {
  embedding = await startTestEmbeddingServer(version, { auth: { tokenFile: serverVolume.tokenFile } });
  redis = connectRedis({ url: requireEnv("JUDE_REDIS_URL") });
});
afterAll(async () => {
  await redis?.quit();
  await embedding?.server.close();
});

/** Calls the server refused for their token so far. */
const refusedCalls = () => refusedBy(embedding.server);

const serverAccepts = (token: string) => untilServerAccepts(embedding.address, token);

function workerConfig(
  topic: string,
  tokenFile: string,
  overrides: Record<string, unknown> = {},
): NearlineConfig {
  const config = nearlineConfig({
    topic,
    version,
    digest: embedding.digest,
    embeddingAddress: embedding.address,
  });
  return { ...config, embedding: { ...config.embedding, token: { file: tokenFile }, ...overrides } };
}

describe("a worker whose serving token is rotated", () => {
  it("keeps running through both orders of the rotation, every record stored as of its newest event", async () => {
    const topic = uniqueTopic("nl-tokenrot");
    await createTopics([topic], 2);
    const workerVolume = new SecretVolume("token-1");
    const config = workerConfig(topic, workerVolume.tokenFile);
    let { app, closeConnection } = await startInProcessNearline(config);
    let failure: unknown;
    let failed = false;
    const watch = (worker: typeof app) =>
      void worker.worker.done.catch((error: unknown) => {
        failed = true;
        failure = error;
      });
    watch(app);
    /** Waits for `condition`, or for the worker to fail (then the expectation below says why). */
    const untilOrFailed = async (description: string, condition: () => boolean | Promise<boolean>) => {
      await waitFor(description, async () => failed || (await condition()), { timeoutMs: 90_000 });
      expect(failure).toBeUndefined();
    };
    const events: TestEvent[] = [];
    const send = async (round: number, count: number) => {
      // Some keys come back in later rounds with newer content: a lost or stale write shows in the store.
      const batch = Array.from({ length: count }, (_, i) =>
        jobEvent(`j${(round * 7 + i) % 12}`, 1_000 * round + i, {
          title: `Engineer ${round}-${i}`,
          company: "Acme",
          skills: [`skill-${round}`],
        }),
      );
      events.push(...batch);
      await produceEvents(topic, batch);
    };
    const consumed = (count: number) => () => app.worker.totals.consumed >= count;
    try {
      await send(1, 6);
      await untilOrFailed("round 1 consumed", consumed(6));

      // The server's pod gets the new token first; the worker's file still holds the old one.
      serverVolume.rotate("token-2");
      await serverAccepts("token-2");
      let refusedBefore = await refusedCalls();
      await send(2, 6);
      await untilOrFailed(
        "the server refusing the worker's old token",
        async () => (await refusedCalls()) > refusedBefore,
      );
      expect(app.worker.totals.consumed).toBe(6); // round 2 is held, not passed over
      workerVolume.rotate("token-2");
      await untilOrFailed("round 2 consumed", consumed(12));

      // The worker's pod gets the next token first: the running worker keeps the token it last read
      // (it reads the file again only when refused), then restarts (a roll, a crash) and starts with
      // token-3 while the server still wants token-2.
      workerVolume.rotate("token-3");
      await send(3, 6);
      await untilOrFailed("round 3 consumed", consumed(18));
      await app.stop();
      closeConnection();
      ({ app, closeConnection } = await startInProcessNearline(config));
      watch(app);
      refusedBefore = await refusedCalls();
      await send(4, 6);
      await untilOrFailed(
        "the server refusing the restarted worker's new token",
        async () => (await refusedCalls()) > refusedBefore,
      );
      expect(app.worker.totals.consumed).toBe(0);
      serverVolume.rotate("token-3");
      await untilOrFailed("round 4 consumed", consumed(6));

      expect(app.worker.ready).toBe(true);
      expect(app.worker.totals.deadLettered).toBe(0);
      const store = await openStore(redis, { name: config.sinks.store.name });
      await expectStoreMatches(store, version, expectedFinalState(events, version));
    } finally {
      await app.stop();
      closeConnection();
    }
  });

  it("while refused, counts each refused call as an embedding error and says on /readyz that the batch waits on the server", async () => {
    // A platform engineer alerting on jude_pipeline_embedding_errors_total or the dependency wait must
    // see a worker whose calls are refused, before the bound and not only after it exits.
    serverVolume.rotate("token-alerting");
    await serverAccepts("token-alerting");
    const topic = uniqueTopic("nl-tokenrot-alerting");
    await createTopics([topic], 1);
    const workerVolume = new SecretVolume("token-stale");
    const config = workerConfig(topic, workerVolume.tokenFile, { tokenRefusedRetrySeconds: 600 });
    const { app, closeConnection } = await startInProcessNearline(config, undefined, { drainMs: 1_000 });
    try {
      const refusedBefore = await refusedCalls();
      const events = [jobEvent("a1", 1_000, { title: "Welder", company: "Acme", skills: [] })];
      await produceEvents(topic, events);
      await waitFor(
        "the server refusing the worker's token",
        async () => (await refusedCalls()) > refusedBefore,
      );
      const metrics = async () => (await fetch(`http://127.0.0.1:${app.ops.port}/metrics`)).text();
      await waitFor(
        "the refused calls counted",
        async () =>
          metricSum(await metrics(), "jude_pipeline_embedding_errors_total", 'status="UNAUTHENTICATED"') >= 1,
        { timeoutMs: 20_000 },
      );
      const text = await metrics();
      expect(metricSum(text, "jude_pipeline_retries_total", 'dependency="embedding"')).toBeGreaterThan(0);
      expect(text).toMatch(/^jude_pipeline_dependency_wait_seconds\{[^}]*dependency="embedding"[^}]*\} \d/m);
      const readyz = (await (await fetch(`http://127.0.0.1:${app.ops.port}/readyz`)).json()) as {
        waitingOn: { error: string };
      };
      expect(readyz).toMatchObject({ ready: true, waitingOn: { dependency: "embedding" } });
      expect(readyz.waitingOn.error).toContain("bearer token");
      expect(app.worker.totals.consumed).toBe(0);

      // The token file catches up: the batch is stored and nothing waits any more.
      workerVolume.rotate("token-alerting");
      await waitFor("the event consumed", () => app.worker.totals.consumed === 1, { timeoutMs: 30_000 });
      const after = (await (await fetch(`http://127.0.0.1:${app.ops.port}/readyz`)).json()) as {
        waitingOn?: unknown;
      };
      expect(after.waitingOn).toBeUndefined();
      const store = await openStore(redis, { name: config.sinks.store.name });
      await expectStoreMatches(store, version, expectedFinalState(events, version));
    } finally {
      await app.stop();
      closeConnection();
    }
  });

  it("with a token the server never takes, stops with UNAUTHENTICATED and stores nothing", async () => {
    const topic = uniqueTopic("nl-tokenrot-wrong");
    await createTopics([topic], 1);
    const workerVolume = new SecretVolume("not-the-token");
    const config = workerConfig(topic, workerVolume.tokenFile, { tokenRefusedRetrySeconds: 2 });
    const { app, closeConnection } = await startInProcessNearline(config);
    try {
      const events = [jobEvent("w1", 1_000, { title: "Nurse", company: "City hospital", skills: [] })];
      await produceEvents(topic, events);
      const failure = await app.worker.done.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(EmbeddingClientError);
      expect((failure as EmbeddingClientError).code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect((failure as Error).message).toContain("invalid bearer token");
      expect(app.worker.ready).toBe(false);
      // The status name, as the README's table says it (the gRPC status number read as "INTERNAL").
      const readyz = await probe(`http://127.0.0.1:${app.ops.port}/readyz`);
      expect(readyz.status).toBe(503);
      expect(JSON.parse(readyz.body)).toMatchObject({ ready: false, error: { code: "UNAUTHENTICATED" } });
      expect(app.worker.totals.batches).toBe(0);
      const store = await openStore(redis, { name: config.sinks.store.name });
      await expectStoreMatches(store, version, new Map([["w1", null]]));
    } finally {
      await app.stop();
      closeConnection();
    }
  });
});

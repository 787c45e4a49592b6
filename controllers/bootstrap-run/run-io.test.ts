// The operator's watermark capture against a broker that accepts connections and never answers (a
// hung broker, or a network that drops packets without resetting anything): the reconcile's signal
// (the capture's own time limit, a lost Lease, shutdown) must end the capture at once, not after the
// Kafka client's request timeouts and retries run out (a minute and a half), holding one of the
// controller's few workers meanwhile.
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseNearlinePipeline } from "../../crds/index.ts";
import { stored } from "../nearline-pipeline/test-objects.ts";
import { describeFailure } from "../shared/reconcile-error.ts";
import { captureWatermarks, missingStoreSecret, readCheckpoints } from "./run-io.ts";

describe("captureWatermarks against a broker that never answers", () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("ends when the reconcile's signal aborts", async () => {
    const connected = Promise.withResolvers<void>();
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
      connected.resolve();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    const pipeline = parseNearlinePipeline(stored("nearline-pipeline-jobs.yaml", "pipeline-uid"));
    pipeline.spec.source.kafka.bootstrapServers = [`127.0.0.1:${port}`];
    delete pipeline.spec.source.kafka.tls;
    delete pipeline.spec.source.kafka.sasl;

    const abort = new AbortController();
    const capture = captureWatermarks(pipeline, new Map(), abort.signal);
    const settled = capture.then(
      () => "resolved",
      (error: unknown) => error,
    );
    await connected.promise;
    const reason = new Error("leadership lost");
    abort.abort(reason);
    expect(await settled).toBe(reason);
  });
});

// Was: the run's condition carried ioredis' own words, "Reached the max retries per request limit
// (which is 1)…", naming neither the store nor why it did not answer.
describe("readCheckpoints against a store that does not answer", () => {
  it("names the store, its endpoint and the connection's error, never the password", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const pipeline = parseNearlinePipeline(stored("nearline-pipeline-jobs.yaml", "pipeline-uid"));
    const ref = pipeline.spec.sinks.store.urlSecretRef;
    const secrets = new Map([
      [ref.name, new Map([[ref.key, Buffer.from(`redis://:s3cr3t-pw@127.0.0.1:${port}/0`)]])],
    ]);
    const failure = await readCheckpoints(pipeline, secrets, { namespace: "ns", name: "run" }, 1, 2000).then(
      () => undefined,
      (error: unknown) => describeFailure(error),
    );
    expect(failure).toContain(`store "${pipeline.spec.sinks.store.name}" at redis://127.0.0.1:${port}`);
    expect(failure).toContain("ECONNREFUSED");
    expect(failure).not.toContain("s3cr3t");
  });
});

// Was: a store Secret deleted (or its key renamed) after the Job started was only a failed read,
// "Secret jude-redis has no key url" even when the whole Secret was gone, and the run Reconciling.
describe("missingStoreSecret", () => {
  const pipeline = parseNearlinePipeline(stored("nearline-pipeline-jobs.yaml", "pipeline-uid"));
  const values = (key: string) => new Map([["jude-redis", new Map([[key, Buffer.from("redis://r:6379")]])]]);

  it("names the field and tells a missing Secret from a missing key", () => {
    expect(missingStoreSecret(pipeline, values("url"))).toBeUndefined();
    expect(missingStoreSecret(pipeline, values("address"))).toBe(
      "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names key url of Secret jude-redis, which has no such key",
    );
    expect(missingStoreSecret(pipeline, new Map())).toBe(
      "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names Secret jude-redis, which does not exist",
    );
  });
});

// Was: a key holding no store URL (emptied, or a value pasted wrong) was only a failed read, "store URL
// is not a URL", naming neither the Secret nor the field, and the run Reconciling for ever.
describe("missingStoreSecret of a key that holds no store URL", () => {
  const pipeline = parseNearlinePipeline(stored("nearline-pipeline-jobs.yaml", "pipeline-uid"));
  const holding = (value: string) => new Map([["jude-redis", new Map([["url", Buffer.from(value)]])]]);

  it("says the key is empty, or why its value is no store URL, without the value", () => {
    const field = "NearlinePipeline jobs: spec.sinks.store.urlSecretRef names key url of Secret jude-redis";
    expect(missingStoreSecret(pipeline, holding(""))).toBe(`${field}, which is empty`);
    expect(missingStoreSecret(pipeline, holding(" \n"))).toBe(`${field}, which is empty`);
    const wrong = missingStoreSecret(pipeline, holding("http://user:s3cr3t@r:6379"));
    expect(wrong).toContain(
      `${field}, which holds no store URL: store URL scheme "http:" is not redis: or rediss:`,
    );
    expect(wrong).not.toContain("s3cr3t");
    expect(missingStoreSecret(pipeline, holding("rediss://user:s3cr3t@r:6379/1\n"))).toBeUndefined();
  });
});

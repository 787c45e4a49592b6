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
import { captureWatermarks } from "./run-io.ts";

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

// tei.v1 EmbedStream ends at its first failure, as TEI's does; every request it had taken on is
// counted once in requests_total with the code its client sees.
import { EventEmitter } from "node:events";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Embedder } from "../core/embedder.ts";
import { servingErrors } from "../core/errors.ts";
import type { EmbedCall, EmbedResult } from "../core/types.ts";
import { createServingMetrics } from "../metrics.ts";
import type { CallContext } from "./call-context.ts";
import { teiEmbedHandlers } from "./tei-service.ts";

interface Deferred {
  text: string;
  resolve(result: EmbedResult): void;
  reject(error: unknown): void;
}

function resultFor(): EmbedResult {
  return {
    embeddings: [{ vector: new Float32Array([1, 0]) }],
    totalTokens: 3,
    timings: { totalNs: 0, tokenizationNs: 0, queueNs: 0, inferenceNs: 0 },
    model: { name: "m" },
  } as unknown as EmbedResult;
}

/** A server stream as grpc-js hands it to the handler: requests in, answers and the end out. */
class FakeStream extends EventEmitter {
  readonly metadata = { get: () => [] };
  cancelled = false;
  readonly written: unknown[] = [];
  readonly errors: Array<{ code?: number }> = [];
  ended = false;
  constructor() {
    super();
    this.on("error", (error: { code?: number }) => this.errors.push(error));
  }
  write(message: unknown): boolean {
    this.written.push(message);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  pause(): void {}
  resume(): void {}
  getPeer(): string {
    return "ipv4:127.0.0.1:1";
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

describe("tei.v1 EmbedStream after a failed request", () => {
  it("ends the stream with the failure and counts every request taken on behind it with that code", async () => {
    const calls: Deferred[] = [];
    const embedder = {
      limits: { maxInputsPerCall: 32 },
      permits: { limit: 1024 },
      embed: (call: EmbedCall) =>
        new Promise<EmbedResult>((resolve, reject) =>
          calls.push({ text: call.inputs[0]!.text, resolve, reject }),
        ),
    } as unknown as Embedder;
    const metrics = createServingMetrics({ inFlight: () => 0, inFlightCalls: () => 0 });
    const context: CallContext = {
      embedder,
      metrics,
      logger: pino({ level: "silent" }),
      auth: undefined,
      info: { executionProvider: () => "cpu", serverVersion: "test" },
    };
    const handlers = teiEmbedHandlers(context, () => new AbortController().signal);
    const stream = new FakeStream();
    (handlers.EmbedStream as unknown as (call: FakeStream) => void)(stream);
    for (const inputs of ["a", "bad", "c", "d"]) stream.emit("data", { inputs, truncate: false });
    expect(calls.map((call) => call.text)).toEqual(["a", "bad", "c", "d"]);
    calls[0]!.resolve(resultFor());
    calls[1]!.reject(servingErrors.backendFailed(new Error("inference worker crashed")));
    calls[2]!.resolve(resultFor()); // computed, but the stream has ended: not sent
    calls[3]!.reject(servingErrors.cancelled()); // dropped by the stream's abort
    stream.emit("end");
    await settle();

    expect(stream.written).toHaveLength(1);
    expect(stream.errors.map((error) => error.code)).toEqual([13]); // INTERNAL
    expect(stream.ended).toBe(false);
    const counted = (await metrics.requests.get()).values
      .filter((value) => value.labels.method === "tei.EmbedStream")
      .map((value) => [value.labels.code, value.value]);
    expect(Object.fromEntries(counted)).toEqual({ OK: 1, INTERNAL: 3 });
  });
});

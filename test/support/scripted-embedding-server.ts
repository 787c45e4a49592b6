/**
 * A small real gRPC embedding server (jude.embedding.v1) whose answers a test scripts: `fail` decides,
 * per Embed call, whether to answer with a gRPC status (e.g. INTERNAL for a chosen text) instead. The
 * other calls are forwarded to `upstream` (a real `jude serve`, for integration tests) or, without
 * one, answered with small vectors derived from each text (unit tests of the pipelines' client side).
 */
import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type Client,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { afterAll, beforeAll } from "vitest";
import { connectEmbedding } from "../../pipelines/shared/embed-client.ts";
import { loadProtos } from "../../serving/transport/proto.ts";

/** A scripted failure: the gRPC status, its details and, optionally, the jude-error-code trailer. */
export interface ScriptedFailure {
  code: status;
  details: string;
  errorCode?: string;
}

type EmbedRequest = { inputs: { text: string }[] };

export interface ScriptedEmbeddingServer {
  readonly address: string;
  /** The digest answers carry when there is no upstream. */
  readonly digest: string;
  /** The texts of every Embed call received, in order (failed ones too). */
  readonly calls: string[][];
  /** Decides each call's answer; undefined answers normally. Replace it at any time. */
  fail: (texts: readonly string[]) => ScriptedFailure | undefined;
  /**
   * True for a call the server never answers (a text that hangs the model): the client's deadline
   * ends it (DEADLINE_EXCEEDED). Asked before `fail`. Replace it at any time.
   */
  hang: (texts: readonly string[]) => boolean;
  close(): Promise<void>;
}

/** The vector the server answers for `text` without an upstream: [length, first char code, 1, 0]. */
export function scriptedVector(text: string): Float32Array {
  return Float32Array.of(text.length, text.charCodeAt(0) || 0, 1, 0);
}

/** Starts a server on a loopback port. */
export async function startScriptedEmbeddingServer(
  options: { upstream?: string; digest?: string } = {},
): Promise<ScriptedEmbeddingServer> {
  const protos = loadProtos();
  const upstream =
    options.upstream === undefined
      ? undefined
      : (new protos.embedding(options.upstream, credentials.createInsecure()) as Client &
          Record<
            string,
            (request: unknown, callback: (error: ServiceError | null, response: unknown) => void) => void
          >);
  const digest = options.digest ?? "sha256:scripted";
  const calls: string[][] = [];
  const server = new Server();
  const state: ScriptedEmbeddingServer = {
    address: "",
    digest,
    calls,
    fail: () => undefined,
    hang: () => false,
    close: async () => {
      upstream?.close();
      server.forceShutdown();
    },
  };
  server.addService(protos.embedding.service, {
    Embed: (call: ServerUnaryCall<EmbedRequest, unknown>, callback: sendUnaryData<unknown>) => {
      const texts = call.request.inputs.map((input) => input.text);
      calls.push(texts);
      if (state.hang(texts)) return; // never answered; forceShutdown at close ends it
      const failure = state.fail(texts);
      if (failure !== undefined) {
        const metadata = new Metadata();
        if (failure.errorCode !== undefined) metadata.set("jude-error-code", failure.errorCode);
        callback({ code: failure.code, details: failure.details, metadata });
        return;
      }
      if (upstream !== undefined) {
        upstream.Embed!(call.request, (error, response) => callback(error, response));
        return;
      }
      callback(null, {
        embeddings: texts.map((text) => ({
          vector: Buffer.from(scriptedVector(text).buffer),
          tokenCount: 1,
          truncated: false,
        })),
        dimensions: 4,
        modelName: "scripted",
        modelVersion: "v1",
        modelDigest: digest,
        totalTokens: texts.length,
        timings: { tokenizationNs: 0, queueNs: 0, inferenceNs: 0, totalNs: 0 },
        requestId: "",
      });
    },
    Info: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
      upstream !== undefined
        ? upstream.Info!(call.request, (error, response) => callback(error, response))
        : callback({ code: status.UNIMPLEMENTED, details: "no Info here" }),
    EmbedStream: (call: { destroy(error: Error): void }) =>
      call.destroy(Object.assign(new Error("not scripted"), { code: status.UNIMPLEMENTED })),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return Object.assign(state, { address: `127.0.0.1:${port}` });
}

/** A scripted server without an upstream and the pipelines' client connected to it. */
export interface ScriptedEmbedding {
  readonly server: ScriptedEmbeddingServer;
  readonly connection: ReturnType<typeof connectEmbedding>;
}

/**
 * For a unit test file: starts a scripted server and connects the pipelines' embedding client to it
 * before the file's tests (closing both after them); the returned object holds them once started.
 * `timeoutMs` is the client's deadline per call (5 s by default; shorter where a test hangs calls).
 */
export function useScriptedEmbedding(options: { timeoutMs?: number } = {}): ScriptedEmbedding {
  const scripted = {} as { server: ScriptedEmbeddingServer; connection: ReturnType<typeof connectEmbedding> };
  beforeAll(async () => {
    scripted.server = await startScriptedEmbeddingServer();
    scripted.connection = connectEmbedding(
      { endpoint: scripted.server.address, timeoutMs: options.timeoutMs ?? 5_000 },
      { modelDigest: scripted.server.digest },
    );
  });
  afterAll(async () => {
    scripted.connection?.close();
    await scripted.server?.close();
  });
  return scripted;
}

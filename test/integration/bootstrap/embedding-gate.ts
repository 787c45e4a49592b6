/**
 * A gate in front of the real embedding server for bootstrap tests: it forwards Embed calls, counts
 * the texts it answered (inference counted at the boundary), and can hold new calls so a test can kill
 * a shard at a moment when every answered text has been put into the store.
 */
import {
  Server,
  ServerCredentials,
  credentials,
  status,
  type Client,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { loadProtos } from "../../../serving/transport/proto.ts";

type EmbedRequest = { inputs: unknown[] };
type Held = { call: ServerUnaryCall<EmbedRequest, unknown>; callback: sendUnaryData<unknown> };

/** The gate; see the module comment. */
export interface EmbeddingGate {
  readonly address: string;
  /** Texts of Embed calls answered successfully so far. */
  answeredTexts(): number;
  /** Calls forwarded and not yet answered. */
  outstanding(): number;
  /** Calls held while paused. */
  held(): number;
  /** Hold every new call until `resume`. */
  pause(): void;
  /**
   * Hold every new call once `texts` texts have been answered (decided as each call arrives, so a fast
   * client cannot race past a test that polls).
   */
  pauseAfter(texts: number): void;
  /** Forward the oldest held call and stay paused: lets a paused client take exactly one step. */
  releaseOne(): void;
  /** Fail the held calls (their client is gone) and forward new calls again. */
  resume(): void;
  close(): Promise<void>;
}

/** Starts a gate forwarding to `upstream`. */
export async function startEmbeddingGate(upstream: string): Promise<EmbeddingGate> {
  const protos = loadProtos();
  const client = new protos.embedding(upstream, credentials.createInsecure()) as Client &
    Record<
      string,
      (request: unknown, callback: (error: ServiceError | null, response: unknown) => void) => void
    >;
  let answered = 0;
  let inFlight = 0;
  let paused = false;
  let pauseAtTexts = Number.POSITIVE_INFINITY;
  let held: Held[] = [];
  const forward = ({ call, callback }: Held): void => {
    inFlight++;
    client.Embed!(call.request, (error, response) => {
      inFlight--;
      if (error === null) answered += call.request.inputs.length;
      callback(error, response);
    });
  };
  const server = new Server();
  server.addService(protos.embedding.service, {
    Embed: (call: Held["call"], callback: Held["callback"]) =>
      paused || answered >= pauseAtTexts ? held.push({ call, callback }) : forward({ call, callback }),
    Info: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
      client.Info!(call.request, (error, response) => callback(error, response)),
    EmbedStream: (call: { destroy(error: Error): void }) =>
      call.destroy(Object.assign(new Error("not proxied"), { code: status.UNIMPLEMENTED })),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    answeredTexts: () => answered,
    outstanding: () => inFlight,
    held: () => held.length,
    pause: () => {
      paused = true;
    },
    pauseAfter: (texts) => {
      pauseAtTexts = texts;
    },
    releaseOne: () => {
      paused = true;
      const oldest = held.shift();
      if (oldest === undefined) throw new Error("releaseOne: no call is held");
      forward(oldest);
    },
    resume: () => {
      for (const each of held)
        each.callback({ code: status.UNAVAILABLE, details: "dropped by the test gate" });
      held = [];
      paused = false;
      pauseAtTexts = Number.POSITIVE_INFINITY;
    },
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

/** Waits until `condition` holds, checking every 25 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

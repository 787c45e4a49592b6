import { Server, ServerCredentials } from "@grpc/grpc-js";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { EventEmitter } from "node:events";
import { constants as http2Constants, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { MAX_TIMER_MS } from "../../plumbing/timers.ts";
import { servingErrors } from "../core/errors.ts";
import type { CallContext } from "./call-context.ts";
import { embeddingServiceHandlers } from "./embed-service.ts";
import { healthHandlers, type HealthState } from "./health-service.ts";
import { loadProtoDescriptors, loadProtos, withLenientDecoding } from "./proto.ts";
import { asV1alpha, DescriptorIndex, REFLECTION_SERVICE, reflectionHandlers } from "./reflection-service.ts";
import type { StreamEndSignal } from "./stream-drain.ts";
import { teiEmbedHandlers, teiInfoHandlers } from "./tei-service.ts";

/** Names of the gRPC services, as health checks address them. */
export const GRPC_SERVICE_NAMES = [
  "jude.embedding.v1.EmbeddingService",
  "tei.v1.Embed",
  "tei.v1.Info",
] as const;

/**
 * How long calls may run on a connection past its maximum age; its EmbedStreams are asked to end at
 * the age (see ageConnections), so only a call that takes longer, or a stream whose client does not
 * end it, is cut.
 */
const MAX_CONNECTION_AGE_GRACE_MS = 30_000;

// A longer maximum age (the config allows any) is taken as MAX_TIMER_MS, which grpc-js reads as no age.

/** Options of the gRPC listener. */
export interface GrpcServerOptions {
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  maxMessageBytes: number;
  /** A connection without a call for this long is closed; grpc-js keeps idle ones forever by default. */
  idleConnectionMs: number;
  /**
   * Every connection is ended (GOAWAY; its streams asked to end with UNAVAILABLE MAX_CONNECTION_AGE)
   * after this long, so clients behind a Service rebalance.
   */
  maxConnectionAgeMs: number;
  context: CallContext;
  health: HealthState;
}

/** A bound gRPC server. */
export interface GrpcListener {
  port: number;
  /**
   * Sends GOAWAY on every open connection (a drain's start): clients open their next calls on a new
   * connection, through a Service to a replica that serves, while running calls go on here; after
   * `graceMs` the connections left are cut. The port stays bound: a connection opened later (a
   * Service's endpoints are updated late) has its first call answered (refused while the server
   * drains, a health check NOT_SERVING) and then gets GOAWAY too. `graceMs` is a timer delay (at
   * most 2^31 - 1 ms).
   */
  goAway(graceMs: number): void;
  /** Lets running calls finish for up to `graceMs`, then cancels what is left. */
  shutdown(graceMs: number): Promise<void>;
}

/** Binds the gRPC server with the embedding, TEI, health and reflection services. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcListener> {
  const protos = loadProtos();
  const serverOptions = {
    // Oversized requests are refused by grpc-js with RESOURCE_EXHAUSTED before they are buffered.
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.max_connection_idle_ms": options.idleConnectionMs,
  };
  // Kubernetes Services balance connections, not calls: a busy channel would stay on its first pod
  // forever, so every connection ends at its maximum age (see ageConnections). grpc-js's own
  // max_connection_age only sends GOAWAY and cuts the streams still open after the grace; it is
  // used only where ageConnections cannot see this server's sessions.
  let server = new Server(serverOptions);
  const ownServers = ownHttp2Servers(server);
  if (ownServers === undefined)
    server = new Server({
      ...serverOptions,
      "grpc.max_connection_age_ms": Math.min(options.maxConnectionAgeMs, MAX_TIMER_MS),
      "grpc.max_connection_age_grace_ms": MAX_CONNECTION_AGE_GRACE_MS,
    });
  const ages = ageConnections(ownServers, options.maxConnectionAgeMs, MAX_CONNECTION_AGE_GRACE_MS);
  const drainSignal = options.context.embedder.drainSignal;
  const endSignal: StreamEndSignal = (call) => {
    const aged = ages.signalOf(call.getPeer());
    return aged === undefined ? drainSignal : AbortSignal.any([drainSignal, aged]);
  };
  server.addService(
    withLenientDecoding(protos.embedding.service),
    embeddingServiceHandlers(options.context, endSignal),
  );
  server.addService(
    withLenientDecoding(protos.teiEmbed.service),
    teiEmbedHandlers(options.context, endSignal),
  );
  server.addService(withLenientDecoding(protos.teiInfo.service), teiInfoHandlers(options.context));
  server.addService(protos.health.service, healthHandlers(options.health));
  // Server reflection, as TEI offers it: generic clients (grpcurl, grpcui, Postman) need no .proto.
  const reflection = reflectionHandlers(
    new DescriptorIndex(loadProtoDescriptors(), [
      ...GRPC_SERVICE_NAMES,
      "grpc.health.v1.Health",
      REFLECTION_SERVICE,
    ]),
    options.context,
  );
  const reflectionService = withLenientDecoding(protos.reflection.service);
  server.addService(reflectionService, reflection);
  server.addService(asV1alpha(reflectionService), reflection);
  const credentials = options.tls
    ? ServerCredentials.createSsl(
        null,
        [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
        false,
      )
    : ServerCredentials.createInsecure();
  const address = (port: number): string =>
    options.host.includes(":") ? `[${options.host}]:${port}` : `${options.host}:${port}`;
  const connections = trackConnections(ownServers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address(options.port), credentials, (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    ),
  ).catch((error: unknown) => {
    connections.stop();
    throw error;
  });
  connections.port = port;
  ages.start();
  const lateSessions = goAwayLateSessions(port, ownServers);
  return {
    port,
    goAway: (graceMs) => {
      // grpc-js closes each session gracefully (GOAWAY; streams running continue), then destroys them.
      server.drain(address(port), graceMs);
      lateSessions.start();
    },
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(force);
          clearTimeout(giveUp);
          connections.stop();
          lateSessions.stop();
          ages.stop();
          resolve();
        };
        let giveUp: NodeJS.Timeout | undefined;
        const force = setTimeout(() => {
          server.forceShutdown();
          // grpc-js has closed these sessions gracefully by now, and a destroyed session whose close
          // had begun only ends its socket: a peer that never closes its side (a proxy holding a
          // half-open upstream) would keep the socket, and this shutdown, forever.
          connections.destroyAll();
          giveUp = setTimeout(done, 1_000); // the sockets are gone; never wait on grpc-js past this
        }, graceMs);
        server.tryShutdown(done);
      }),
  };
}

/**
 * The TCP connections accepted on the gRPC port, which grpc-js does not expose, seen through Node's
 * `net.server.socket` diagnostics channel: those of this server's HTTP/2 servers (see ownHttp2Servers;
 * else those on its port). The port is read when a socket arrives: once HTTP/2 owns a socket, its
 * address is no longer readable.
 */
function trackConnections(ownServers: ReadonlyMap<unknown, unknown> | undefined): {
  port: number | undefined;
  destroyAll(): void;
  stop(): void;
} {
  const sockets = new Map<Socket, number | undefined>();
  const tracker = {
    port: undefined as number | undefined,
    destroyAll: () => {
      for (const [socket, port] of sockets) if (port === tracker.port) socket.destroy();
    },
    stop: () => {
      unsubscribe("net.server.socket", onSocket);
      sockets.clear();
    },
  };
  function onSocket(message: unknown): void {
    const { socket } = message as { socket: Socket & { server?: unknown } };
    // The channel shows the sockets of every server in the process: another may listen on the same
    // port number on another address (drain-late-connection.test.ts).
    if (ownServers !== undefined && !ownServers.has(socket.server)) return;
    const port = socket.localPort;
    if (tracker.port !== undefined && port !== tracker.port) return;
    sockets.set(socket, port);
    socket.once("close", () => sockets.delete(socket));
  }
  subscribe("net.server.socket", onSocket);
  return tracker;
}

/**
 * Ends each connection of this server at its maximum age (jittered by ±10%, as grpc-js does), so a
 * client behind a Service reconnects, maybe to another replica: GOAWAY (calls go on; new ones go on a
 * new connection), and the connection's signal (`signalOf`, by the peer address grpc-js reports for
 * a call) is aborted with MAX_CONNECTION_AGE, so its open streams answer what they have in flight and
 * end with that retryable UNAVAILABLE (see onStreamEnd) rather than being cut. What is still open
 * `graceMs` later is cut. An age past MAX_TIMER_MS is that long. Sessions are seen on the HTTP/2 servers grpc-js listens with (from
 * `start()`, once bound); without them (`ownServers` undefined) grpc-js ages the connections itself.
 */
function ageConnections(
  ownServers: ReadonlyMap<unknown, unknown> | undefined,
  maxAgeMs: number,
  graceMs: number,
): { signalOf(peer: string): AbortSignal | undefined; start(): void; stop(): void } {
  const byPeer = new Map<string, AbortController>();
  const timers = new Set<NodeJS.Timeout>();
  let servers: EventEmitter[] = [];
  function onSession(session: ServerHttp2Session): void {
    const { remoteAddress, remotePort } = session.socket ?? {};
    // As grpc-js's call.getPeer() writes it.
    const peer = remoteAddress && (remotePort ? `${remoteAddress}:${remotePort}` : remoteAddress);
    const aged = new AbortController();
    if (peer) byPeer.set(peer, aged);
    const jitter = (Math.random() * 2 - 1) * (maxAgeMs / 10);
    let grace: NodeJS.Timeout | undefined;
    const age = setTimeout(
      () => {
        timers.delete(age);
        if (session.closed || session.destroyed) return;
        try {
          session.goaway(http2Constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1, Buffer.from("max_age"));
        } catch {
          session.destroy(); // closed meanwhile
          return;
        }
        session.close();
        aged.abort(servingErrors.maxConnectionAge());
        grace = setTimeout(() => {
          timers.delete(grace!);
          session.destroy();
        }, graceMs).unref();
        timers.add(grace);
      },
      Math.min(maxAgeMs + jitter, MAX_TIMER_MS),
    ).unref();
    timers.add(age);
    session.once("close", () => {
      clearTimeout(age);
      timers.delete(age);
      if (grace !== undefined) {
        clearTimeout(grace);
        timers.delete(grace);
      }
      if (peer && byPeer.get(peer) === aged) byPeer.delete(peer);
    });
  }
  return {
    signalOf: (peer) => byPeer.get(peer)?.signal,
    start: () => {
      // The servers are there once the port is bound.
      servers = [...(ownServers?.keys() ?? [])] as EventEmitter[];
      for (const http2Server of servers) http2Server.on("session", onSession);
    },
    stop: () => {
      for (const http2Server of servers) http2Server.off("session", onSession);
      servers = [];
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      byPeer.clear();
    },
  };
}

/**
 * GOAWAY for the connections a drain's `server.drain` did not see (grpc-js closes only the sessions
 * open at that moment): once started, each session of this server that opens a stream is closed
 * gracefully as that stream arrives (a session is known by its HTTP/2 server, or by `port` if grpc-js
 * hides its servers otherwise than ownHttp2Servers reads them). The GOAWAY names the stream as the
 * last one processed, so it is answered; streams the client sent after it are refused
 * (REFUSED_STREAM), which grpc-js retries on a new connection. Seen through Node's `http2.server.stream.created` diagnostics channel (grpc-js does
 * not expose its sessions); an early Node 24 release without that channel publishes nothing there,
 * and such connections get GOAWAY only when the drain ends, as before.
 */
function goAwayLateSessions(
  port: number,
  ownServers: ReadonlyMap<unknown, unknown> | undefined,
): { start(): void; stop(): void } {
  let started = false;
  function onStream(message: unknown): void {
    const { session } = (message as { stream: ServerHttp2Stream }).stream;
    if (session === undefined || session.closed || session.destroyed) return;
    // The channel shows the streams of every HTTP/2 server in the process: another server may listen
    // on the same port number on another address (drain-late-connection.test.ts).
    if (
      ownServers === undefined
        ? session.socket.localPort !== port
        : !ownServers.has((session as ServerHttp2Session).server)
    )
      return;
    session.close();
  }
  return {
    start: () => {
      if (started) return;
      started = true;
      subscribe("http2.server.stream.created", onStream);
    },
    stop: () => {
      if (!started) return;
      started = false;
      unsubscribe("http2.server.stream.created", onStream);
    },
  };
}

/**
 * The HTTP/2 servers that grpc-js listens with for `server` (one per bound address), by which a
 * session is known to be this server's; grpc-js does not expose them (a private field of 1.14).
 * Undefined if a grpc-js release has them no longer: sessions are then told by their port alone.
 */
function ownHttp2Servers(server: Server): ReadonlyMap<unknown, unknown> | undefined {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  return servers instanceof Map ? servers : undefined;
}

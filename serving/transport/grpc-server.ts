import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { CallContext } from "./call-context.ts";
import { embeddingServiceHandlers } from "./embed-service.ts";
import { healthHandlers, type HealthState } from "./health-service.ts";
import { loadProtos, withLenientDecoding } from "./proto.ts";
import { teiEmbedHandlers, teiInfoHandlers } from "./tei-service.ts";

/** Names of the gRPC services, as health checks address them. */
export const GRPC_SERVICE_NAMES = [
  "jude.embedding.v1.EmbeddingService",
  "tei.v1.Embed",
  "tei.v1.Info",
] as const;

/** Options of the gRPC listener. */
export interface GrpcServerOptions {
  host: string;
  port: number;
  tls: { cert: Buffer; key: Buffer } | undefined;
  maxMessageBytes: number;
  context: CallContext;
  health: HealthState;
}

/** A bound gRPC server. */
export interface GrpcListener {
  port: number;
  /** Lets running calls finish for up to `graceMs`, then cancels what is left. */
  shutdown(graceMs: number): Promise<void>;
}

/** Binds the gRPC server with the embedding, TEI and health services. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcListener> {
  const protos = loadProtos();
  const server = new Server({
    // Oversized requests are refused by grpc-js with RESOURCE_EXHAUSTED before they are buffered.
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
  server.addService(withLenientDecoding(protos.embedding.service), embeddingServiceHandlers(options.context));
  server.addService(withLenientDecoding(protos.teiEmbed.service), teiEmbedHandlers(options.context));
  server.addService(withLenientDecoding(protos.teiInfo.service), teiInfoHandlers(options.context));
  server.addService(protos.health.service, healthHandlers(options.health));
  const credentials = options.tls
    ? ServerCredentials.createSsl(
        null,
        [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
        false,
      )
    : ServerCredentials.createInsecure();
  const address = options.host.includes(":")
    ? `[${options.host}]:${options.port}`
    : `${options.host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    ),
  );
  return {
    port,
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

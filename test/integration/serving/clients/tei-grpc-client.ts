/**
 * A TEI gRPC client as a TEI user would write one: generated from TEI's tei.proto (clients/tei.proto,
 * snake_case fields as protoc's plugins keep them), not from the server's code.
 */
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const definition = loadSync(fileURLToPath(new URL("./tei.proto", import.meta.url)), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const tei = (
  loadPackageDefinition(definition) as unknown as {
    tei: { v1: Record<string, new (...args: unknown[]) => Client> };
  }
).tei.v1;

/** tei.v1.EmbedRequest. */
export interface TeiEmbedRequest {
  inputs: string;
  truncate?: boolean;
  normalize?: boolean;
  truncation_direction?: "TRUNCATION_DIRECTION_RIGHT" | "TRUNCATION_DIRECTION_LEFT";
  prompt_name?: string;
  dimensions?: number;
}

/** tei.v1.EmbedResponse. */
export interface TeiEmbedResponse {
  embeddings: number[];
  metadata: { compute_chars: number; compute_tokens: number; total_time_ns: string; queue_time_ns: string };
}

type Unary = (
  request: unknown,
  metadata: Metadata,
  callback: (error: ServiceError | null, response: unknown) => void,
) => { on(event: "metadata", listener: (metadata: Metadata) => void): void };

/** A connection to a TEI gRPC endpoint. */
export class TeiGrpcClient {
  readonly #embed: Client & Record<string, unknown>;
  readonly #info: Client & Record<string, unknown>;

  constructor(address: string) {
    this.#embed = new tei.Embed!(address, credentials.createInsecure()) as never;
    this.#info = new tei.Info!(address, credentials.createInsecure()) as never;
  }

  /** Embed, with the response headers (initial metadata) TEI sends. */
  embed(request: TeiEmbedRequest): Promise<{ response: TeiEmbedResponse; headers: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      let headers: Record<string, string> = {};
      const call = (this.#embed.Embed as Unary).call(
        this.#embed,
        request,
        new Metadata(),
        (error, response) =>
          error ? reject(error) : resolve({ response: response as TeiEmbedResponse, headers }),
      );
      call.on("metadata", (metadata) => {
        headers = Object.fromEntries(
          Object.entries(metadata.getMap()).map(([key, value]) => [key, String(value)]),
        );
      });
    });
  }

  /**
   * EmbedStream: writes every request as fast as the stream accepts it (honouring write back-pressure)
   * and collects the answers, which TEI sends in request order.
   */
  async embedStream(requests: readonly TeiEmbedRequest[]): Promise<TeiEmbedResponse[]> {
    const stream = (
      this.#embed.EmbedStream as () => NodeJS.ReadWriteStream & {
        write(message: unknown): boolean;
        end(): void;
      }
    ).call(this.#embed);
    const answers: TeiEmbedResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (message: TeiEmbedResponse) => answers.push(message));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    for (const request of requests) {
      // A stream that failed emits no "drain": stop writing and report its error.
      if (!stream.write(request))
        await Promise.race([new Promise((resolve) => stream.once("drain", resolve)), done]);
    }
    stream.end();
    await done;
    return answers;
  }

  /** Info. */
  info(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) =>
      (this.#info.Info as Unary).call(this.#info, {}, new Metadata(), (error, response) =>
        error ? reject(error) : resolve(response as Record<string, unknown>),
      ),
    );
  }

  close(): void {
    this.#embed.close();
    this.#info.close();
  }
}

/**
 * A gRPC server reflection client as generic tools (grpcurl, grpcui, Postman) use one: list the
 * services, fetch the file descriptors of a symbol, and build a client from them alone. Written from
 * grpc's reflection.proto (clients/reflection.proto), not from the server's code.
 */
import { Client, credentials, loadPackageDefinition, Metadata, type GrpcObject } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync, type MessageTypeDefinition } from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const definitions = loadSync(
  ["reflection.proto", "descriptor.proto"].map((file) =>
    fileURLToPath(new URL(`./${file}`, import.meta.url)),
  ),
  options,
);
const messageType = (name: string): MessageTypeDefinition<object, object> =>
  definitions[name] as MessageTypeDefinition<object, object>;
const reflectionRequest = messageType("grpc.reflection.v1.ServerReflectionRequest");
const reflectionResponse = messageType("grpc.reflection.v1.ServerReflectionResponse");
const fileDescriptor = messageType("jude.test.descriptor.FileDescriptorProto");
const rawFileDescriptorSet = messageType("jude.test.descriptor.RawFileDescriptorSet");

/** A ServerReflectionResponse (snake_case, the oneof named in `message_response`). */
export interface ReflectionResponse {
  message_response: "file_descriptor_response" | "list_services_response" | "error_response" | string;
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  list_services_response?: { service: Array<{ name: string }> };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  error_response?: { error_code: number; error_message: string };
}

/** The decoded parts of a FileDescriptorProto that clients check (clients/descriptor.proto). */
export interface FileDescriptor {
  name: string;
  package: string;
  dependency: string[];
  message_type: MessageDescriptor[];
  service: Array<{ name: string }>;
}

/** A DescriptorProto. */
export interface MessageDescriptor {
  name: string;
  field: Array<{
    name: string;
    number: number;
    label: number;
    type: number;
    type_name: string;
    oneof_index?: number;
    proto3_optional: boolean;
  }>;
  nested_type: MessageDescriptor[];
  options: { map_entry: boolean } | null;
  oneof_decl: Array<{ name: string }>;
}

/** A reflection endpoint; `version` picks the service (grpcurl asks v1 first, older tools v1alpha). */
export class ReflectionClient {
  readonly #client: Client;
  readonly #path: string;
  readonly #token: string | undefined;

  constructor(address: string, settings: { version?: "v1" | "v1alpha"; token?: string } = {}) {
    this.#client = new Client(address, credentials.createInsecure());
    this.#path = `/grpc.reflection.${settings.version ?? "v1"}.ServerReflection/ServerReflectionInfo`;
    this.#token = settings.token;
  }

  /** Sends the requests on one stream and collects the answers (rejects with the stream's status). */
  ask(requests: object[]): Promise<ReflectionResponse[]> {
    const metadata = new Metadata();
    if (this.#token) metadata.set("authorization", `Bearer ${this.#token}`);
    const call = this.#client.makeBidiStreamRequest(
      this.#path,
      (request: object) => reflectionRequest.serialize(request),
      (bytes: Buffer) => reflectionResponse.deserialize(bytes) as ReflectionResponse,
      metadata,
    );
    const answers: ReflectionResponse[] = [];
    return new Promise((resolve, reject) => {
      call.on("data", (answer: ReflectionResponse) => answers.push(answer));
      call.on("error", reject);
      call.on("end", () => resolve(answers));
      for (const request of requests) call.write(request);
      call.end();
    });
  }

  /** list_services: the names, as `grpcurl list` prints them. */
  async listServices(): Promise<string[]> {
    const [answer] = await this.ask([{ list_services: "*" }]);
    return answer?.list_services_response?.service.map((service) => service.name) ?? [];
  }

  /** file_containing_symbol: the serialized files (throws on an in-stream error). */
  async fileContainingSymbol(symbol: string): Promise<Buffer[]> {
    const [answer] = await this.ask([{ file_containing_symbol: symbol }]);
    if (answer?.file_descriptor_response === undefined)
      throw new Error(`reflection: ${JSON.stringify(answer?.error_response)}`);
    return answer.file_descriptor_response.file_descriptor_proto;
  }

  close(): void {
    this.#client.close();
  }
}

/** Decodes a serialized FileDescriptorProto. */
export function decodeFileDescriptor(bytes: Buffer): FileDescriptor {
  return fileDescriptor.deserialize(bytes) as FileDescriptor;
}

/** The package object of reflected files, as a dynamic client builds it (proto-loader, snake_case). */
export function packageFromFiles(files: Buffer[]): GrpcObject {
  const set = rawFileDescriptorSet.serialize({ file: files });
  return loadPackageDefinition(loadFileDescriptorSetFromBuffer(set, options));
}

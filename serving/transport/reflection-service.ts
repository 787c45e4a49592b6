/**
 * gRPC server reflection (`grpc.reflection.v1`, and `v1alpha` for older clients) over the protos
 * this server speaks, so grpcurl, grpcui and Postman call it with no .proto files, as they call TEI.
 */
import type { ServerDuplexStream, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { AnyDefinition, PackageDefinition, ProtobufTypeDefinition } from "@grpc/proto-loader";
import type { CallContext } from "./call-context.ts";
import { readFileHeader, asProtocDescribes } from "./file-descriptor.ts";
import { authorize } from "./grpc-call.ts";
import { malformation } from "./proto.ts";
import { toGrpcStatus } from "./status-mapping.ts";

/** The reflection service's full name, as it is listed. */
export const REFLECTION_SERVICE = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA = "grpc.reflection.v1alpha.ServerReflection";

/** A decoded ServerReflectionRequest (proto-loader's camel-case names, oneofs as a virtual field). */
interface ReflectionRequest {
  host: string;
  messageRequest?:
    | "fileByFilename"
    | "fileContainingSymbol"
    | "fileContainingExtension"
    | "allExtensionNumbersOfType"
    | "listServices";
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType: string; extensionNumber: number };
  allExtensionNumbersOfType?: string;
}

/** One serialized FileDescriptorProto with the fields reflection needs. */
interface DescribedFile {
  name: string;
  package: string;
  dependencies: string[];
  bytes: Buffer;
}

/** What reflection answers from: the files, their symbols and the services listed. */
export class DescriptorIndex {
  readonly services: readonly string[];
  readonly #files: DescribedFile[];
  readonly #symbols = new Set<string>();
  readonly #messages = new Set<string>();

  /**
   * `definitions` is proto-loader's package definition (each message and enum carries all files'
   * descriptors), keyed by the full names of services, messages and enums. `services` are the ones the
   * server registered, in the order they are listed.
   */
  constructor(definitions: PackageDefinition, services: readonly string[]) {
    this.services = services;
    let buffers: Buffer[] = [];
    for (const [name, entry] of Object.entries(definitions)) {
      this.#symbols.add(name);
      if (isTypeDefinition(entry)) {
        buffers = entry.fileDescriptorProtos;
        if (entry.format === "Protocol Buffer 3 DescriptorProto") this.#messages.add(name);
      } else {
        for (const method of Object.keys(entry)) this.#symbols.add(`${name}.${method}`);
      }
    }
    this.#files = buffers.map((raw) => {
      const bytes = asProtocDescribes(raw);
      return { ...readFileHeader(bytes), bytes };
    });
  }

  /** The descriptors of the file defining `symbol` and its dependencies, or undefined. */
  filesForSymbol(symbol: string): Buffer[] | undefined {
    if (!this.#symbols.has(symbol)) return undefined;
    const file = this.#files
      .filter((candidate) => symbol.startsWith(`${candidate.package}.`))
      .sort((a, b) => b.package.length - a.package.length)[0];
    return file && this.#withDependencies(file);
  }

  /** The descriptors of the file named `name` and its dependencies, or undefined. */
  filesByName(name: string): Buffer[] | undefined {
    const file = this.#files.find((candidate) => candidate.name === name);
    return file && this.#withDependencies(file);
  }

  /** Whether `name` is a message type (whose extension numbers are asked for). */
  isMessage(name: string): boolean {
    return this.#messages.has(name);
  }

  #withDependencies(file: DescribedFile): Buffer[] {
    const seen = new Map<string, DescribedFile>();
    const visit = (current: DescribedFile): void => {
      if (seen.has(current.name)) return;
      seen.set(current.name, current);
      for (const dependency of current.dependencies) {
        const found = this.#files.find((candidate) => candidate.name === dependency);
        if (found) visit(found);
      }
    };
    visit(file);
    return [...seen.values()].map((described) => described.bytes);
  }
}

/** A message or enum entry of a package definition (the others are services). */
function isTypeDefinition(entry: AnyDefinition | ProtobufTypeDefinition): entry is ProtobufTypeDefinition {
  return typeof entry.format === "string";
}

/** The answer to one reflection request (errors travel in-stream, as the protocol has them). */
export function answerReflection(
  index: DescriptorIndex,
  request: ReflectionRequest,
): Record<string, unknown> {
  const answer = (response: Record<string, unknown>): Record<string, unknown> => ({
    validHost: request.host,
    originalRequest: request,
    ...response,
  });
  const error = (code: GrpcStatus, message: string): Record<string, unknown> =>
    answer({ errorResponse: { errorCode: code, errorMessage: message } });
  const files = (found: Buffer[] | undefined, what: string): Record<string, unknown> =>
    found
      ? answer({ fileDescriptorResponse: { fileDescriptorProto: found } })
      : error(GrpcStatus.NOT_FOUND, `${what} is not served here`);
  switch (request.messageRequest) {
    case "listServices":
      return answer({ listServicesResponse: { service: index.services.map((name) => ({ name })) } });
    case "fileContainingSymbol":
      return files(
        index.filesForSymbol(request.fileContainingSymbol ?? ""),
        `symbol "${request.fileContainingSymbol}"`,
      );
    case "fileByFilename":
      return files(index.filesByName(request.fileByFilename ?? ""), `file "${request.fileByFilename}"`);
    case "allExtensionNumbersOfType": {
      const type = request.allExtensionNumbersOfType ?? "";
      // These protos are proto3: no message has extensions.
      return index.isMessage(type)
        ? answer({ allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: [] } })
        : error(GrpcStatus.NOT_FOUND, `message type "${type}" is not served here`);
    }
    case "fileContainingExtension":
      return error(GrpcStatus.NOT_FOUND, "no extensions are defined in the protos served here");
    default:
      return error(GrpcStatus.INVALID_ARGUMENT, "the reflection request names no question");
  }
}

/** The ServerReflectionInfo handler: one answer per request, in order. Needs the token when auth is on. */
export function reflectionHandlers(
  index: DescriptorIndex,
  context: CallContext,
): UntypedServiceImplementation {
  return {
    ServerReflectionInfo: (call: ServerDuplexStream<ReflectionRequest, Record<string, unknown>>) => {
      try {
        authorize(context, call.metadata);
      } catch (error) {
        call.emit("error", toGrpcStatus(error));
        return;
      }
      call.on("data", (request: ReflectionRequest) => {
        if (call.cancelled) return;
        const problem = malformation(request);
        call.write(
          problem
            ? { errorResponse: { errorCode: GrpcStatus.INVALID_ARGUMENT, errorMessage: problem.message } }
            : answerReflection(index, request),
        );
      });
      call.on("end", () => call.end());
    },
  };
}

/** The v1 service definition under `grpc.reflection.v1alpha`: the same messages, another path. */
export function asV1alpha(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      { ...method, path: method.path.replace(`/${REFLECTION_SERVICE}/`, `/${REFLECTION_V1ALPHA}/`) },
    ]),
  ) as ServiceDefinition;
}

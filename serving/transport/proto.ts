import type { GrpcObject, ServiceClientConstructor, ServiceDefinition } from "@grpc/grpc-js";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { wireChecker, type WireFault } from "./strict-utf8.ts";

// Beside the sources (serving/proto); a compiled build (dist/serving/…) has no .proto files of its
// own and reads them from the package's serving/proto.
const protoDir =
  [new URL("../proto/", import.meta.url), new URL("../../../serving/proto/", import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((directory) => existsSync(`${directory}embedding.proto`)) ??
  fileURLToPath(new URL("../proto/", import.meta.url));

/** Options shared by server and client so both see the same JavaScript shapes. */
const loaderOptions = {
  keepCase: false,
  longs: Number, // nanosecond timings fit in a double for 104 days
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoDir],
};

/** The loaded services of the protos this server speaks. */
export interface Protos {
  embedding: ServiceClientConstructor;
  teiEmbed: ServiceClientConstructor;
  teiInfo: ServiceClientConstructor;
  health: ServiceClientConstructor;
  reflection: ServiceClientConstructor;
}

const PROTO_FILES = ["embedding.proto", "tei.proto", "health.proto", "reflection.proto"];

let cached: Protos | undefined;

/** Loads the protos once per process. */
export function loadProtos(): Protos {
  if (cached !== undefined) return cached;
  const root = loadPackageDefinition(loadSync(PROTO_FILES, loaderOptions)) as unknown as Record<
    string,
    GrpcObject
  >;
  const pick = (path: string): ServiceClientConstructor => {
    const found = path
      .split(".")
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], root);
    if (typeof found !== "function") throw new Error(`proto service ${path} not found`);
    return found as ServiceClientConstructor;
  };
  cached = {
    embedding: pick("jude.embedding.v1.EmbeddingService"),
    teiEmbed: pick("tei.v1.Embed"),
    teiInfo: pick("tei.v1.Info"),
    health: pick("grpc.health.v1.Health"),
    reflection: pick("grpc.reflection.v1.ServerReflection"),
  };
  return cached;
}

/**
 * The served protos for server reflection: every service, message and enum by full name, each
 * message and enum with the serialized file descriptors. Field names stay as the .proto spells them
 * (reflection clients derive JSON names from them), unlike the camel case of loadProtos.
 */
export function loadProtoDescriptors(): PackageDefinition {
  descriptors ??= loadSync(PROTO_FILES, { ...loaderOptions, keepCase: true });
  return descriptors;
}

let descriptors: PackageDefinition | undefined;

const MALFORMED = Symbol("malformed request");

/** A request that could not be decoded; handlers answer it with INVALID_ARGUMENT. */
export interface MalformedRequest {
  [MALFORMED]: Error;
}

/** The decoding error when `request` could not be decoded, else undefined. */
export function malformation(request: unknown): Error | undefined {
  return typeof request === "object" && request !== null && MALFORMED in request
    ? (request as MalformedRequest)[MALFORMED]
    : undefined;
}

/**
 * grpc-js answers an undecodable request with INTERNAL, which tells the client the server failed.
 * Decoding leniently and letting the handler answer INVALID_ARGUMENT says what actually happened.
 */
export function withLenientDecoding(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          const { typeName, check } = checkerOf(method);
          const fault = check(bytes);
          if (fault?.kind === "utf8")
            return { [MALFORMED]: new Error(`field ${fault.field} is not valid UTF-8`) };
          const undecodable = (detail: string): MalformedRequest => ({
            [MALFORMED]: new Error(`the request could not be decoded as ${typeName}: ${detail}`),
          });
          if (fault !== undefined) return undecodable(fault.detail);
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return undecodable(error instanceof Error ? error.message : String(error));
          }
        },
      },
    ]),
  ) as ServiceDefinition;
}

const checkers = new Map<string, { typeName: string; check: (bytes: Uint8Array) => WireFault | undefined }>();

/**
 * The wire check of a method's request (see strict-utf8.ts) and the request type's full name. The
 * type is looked up by its name in the service's package (where these protos define it), else in any
 * package.
 */
function checkerOf(method: ServiceDefinition[string]): {
  typeName: string;
  check: (bytes: Uint8Array) => WireFault | undefined;
} {
  const known = checkers.get(method.path);
  if (known !== undefined) return known;
  const definitions = loadProtoDescriptors();
  const typeName = (method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name;
  const servicePackage = method.path.slice(1, method.path.indexOf("/", 1)).split(".").slice(0, -1).join(".");
  const fullName =
    typeName === undefined
      ? undefined
      : `${servicePackage}.${typeName}` in definitions
        ? `${servicePackage}.${typeName}`
        : Object.keys(definitions).find((name) => name.endsWith(`.${typeName}`));
  const checker =
    fullName === undefined
      ? { typeName: typeName ?? "the request message", check: () => undefined }
      : { typeName: fullName, check: wireChecker(definitions, fullName) };
  checkers.set(method.path, checker);
  return checker;
}

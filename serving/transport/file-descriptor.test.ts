import descriptor from "protobufjs/ext/descriptor/index.js";
import { describe, expect, it } from "vitest";
import { mapEntryName, readFileHeader, asProtocDescribes } from "./file-descriptor.ts";
import { loadProtoDescriptors } from "./proto.ts";

interface DecodedFile {
  messageType: Array<{
    name: string;
    field: Array<{ name: string; typeName?: string; oneofIndex?: number; proto3Optional?: boolean }>;
    nestedType: Array<{ name: string }>;
    oneofDecl: Array<{ name: string }>;
  }>;
}

/** A serialized FileDescriptorProto, decoded with google/protobuf/descriptor.proto (protobufjs's copy). */
const decode = (bytes: Buffer): DecodedFile =>
  descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(bytes), {
    arrays: true,
  }) as unknown as DecodedFile;

/** The served files as proto-loader (protobufjs) serializes them, by package. */
function servedFiles(): Map<string, Buffer> {
  const entry = Object.values(loadProtoDescriptors()).find(
    (definition) => "fileDescriptorProtos" in definition,
  );
  const files = (entry as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos;
  return new Map(files.map((file) => [readFileHeader(file).package, file]));
}

describe("mapEntryName", () => {
  it.each([
    ["fields", "FieldsEntry"],
    ["prompt_fields", "PromptFieldsEntry"],
    ["labels_v2", "LabelsV2Entry"],
    ["already_Camel", "AlreadyCamelEntry"],
  ])("%s -> %s, as protoc names it", (field, entry) => {
    expect(mapEntryName(field)).toBe(entry);
  });
});

describe("asProtocDescribes", () => {
  it("renames protobufjs's map entry type and the field's reference to it", () => {
    const original = servedFiles().get("jude.embedding.v1")!;
    expect(original.includes("FieldsEntry")).toBe(false); // protobufjs names it "Fields"
    const mended = asProtocDescribes(original);
    // "Fields" grew by "Entry" twice: the nested type's name and the field's type_name.
    expect(mended.toString("latin1").split("FieldsEntry")).toHaveLength(3);
    const input = decode(mended).messageType.find((message) => message.name === "EmbedInput")!;
    expect(input.field.find((field) => field.name === "fields")?.typeName).toBe("FieldsEntry");
    expect(input.nestedType.map((nested) => nested.name)).toEqual(["FieldsEntry"]);
    expect(readFileHeader(mended)).toEqual(readFileHeader(original));
  });

  it("marks proto3 `optional` fields proto3_optional, as protoc does, and no field of a real oneof", () => {
    const optional = (pkg: string): string[] =>
      decode(asProtocDescribes(servedFiles().get(pkg)!)).messageType.flatMap((message) =>
        message.field
          .filter((field) => field.proto3Optional)
          .map((field) => `${message.name}.${field.name} in ${message.oneofDecl[field.oneofIndex!]?.name}`),
      );
    expect(optional("jude.embedding.v1")).toEqual([
      "EmbedRequest.normalize in _normalize",
      "EmbedRequest.dimensions in _dimensions",
    ]); // not EmbedStreamResponse's `oneof result`
    expect(optional("tei.v1")).toEqual([
      "InfoResponse.sha in _sha",
      "InfoResponse.docker_label in _docker_label",
      "InfoResponse.model_sha in _model_sha",
      "InfoResponse.max_batch_requests in _max_batch_requests",
      "EmbedRequest.normalize in _normalize",
      "EmbedRequest.prompt_name in _prompt_name",
      "EmbedRequest.dimensions in _dimensions",
    ]);
    // protobufjs alone loses the flag.
    expect(
      decode(servedFiles().get("tei.v1")!).messageType.flatMap((message) => message.field),
    ).not.toContainEqual(expect.objectContaining({ proto3Optional: true }));
  });

  it("leaves a file without map or optional fields byte for byte as it was", () => {
    for (const name of ["grpc.health.v1", "grpc.reflection.v1"]) {
      const file = servedFiles().get(name)!;
      expect(asProtocDescribes(file).equals(file), name).toBe(true);
    }
  });

  it("reads the name, package and dependencies of a file", () => {
    expect(readFileHeader(servedFiles().get("tei.v1")!)).toMatchObject({
      package: "tei.v1",
      dependencies: [],
    });
    expect(() => readFileHeader(Buffer.from([0x0a, 0x05, 0x61]))).toThrow("truncated protobuf message");
  });
});

import { describe, expect, it } from "vitest";
import { mapEntryName, readFileHeader, withProtocMapEntryNames } from "./file-descriptor.ts";
import { loadProtoDescriptors } from "./proto.ts";

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

describe("withProtocMapEntryNames", () => {
  it("renames protobufjs's map entry type and the field's reference to it, and nothing else", () => {
    const original = servedFiles().get("jude.embedding.v1")!;
    expect(original.includes("FieldsEntry")).toBe(false); // protobufjs names it "Fields"
    const mended = withProtocMapEntryNames(original);
    // "Fields" grew by "Entry" twice: the nested type's name and the field's type_name.
    expect(mended.length).toBe(original.length + 2 * "Entry".length);
    expect(mended.toString("latin1").split("FieldsEntry")).toHaveLength(3);
    expect(readFileHeader(mended)).toEqual(readFileHeader(original));
  });

  it("leaves a file without map fields byte for byte as it was", () => {
    for (const name of ["tei.v1", "grpc.health.v1", "grpc.reflection.v1"]) {
      const file = servedFiles().get(name)!;
      expect(withProtocMapEntryNames(file).equals(file), name).toBe(true);
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

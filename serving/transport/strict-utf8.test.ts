import { describe, expect, it } from "vitest";
import { loadProtoDescriptors } from "./proto.ts";
import { utf8Checker, wireChecker } from "./strict-utf8.ts";

const field = (number: number, bytes: Buffer | string): Buffer => {
  const value = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return Buffer.concat([Buffer.from([(number << 3) | 2, value.length]), value]);
};
const varintField = (number: number, value: number): Buffer => Buffer.from([number << 3, value]);
const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

describe("utf8Checker", () => {
  const check = utf8Checker(loadProtoDescriptors(), "jude.embedding.v1.EmbedRequest");

  it("passes a request whose strings are UTF-8, in any field order", () => {
    const input = Buffer.concat([field(2, "job"), field(1, "café ✓ 𝄞"), field(3, field(2, "x"))]);
    expect(check(Buffer.concat([varintField(2, 1), field(1, input), field(4, "req-1")]))).toBeUndefined();
  });

  it("names the first string that is not, however deeply nested", () => {
    expect(check(field(1, field(1, latin1)))).toBe("inputs.text");
    expect(check(field(1, field(2, latin1)))).toBe("inputs.prompt_name");
    expect(check(field(1, field(3, Buffer.concat([field(1, latin1), field(2, "v")]))))).toBe(
      "inputs.fields.key",
    );
    expect(check(Buffer.concat([field(1, field(1, "fine")), field(4, latin1)]))).toBe("request_id");
  });

  it("leaves bytes that are not a well-formed message, and unknown fields, to the decoder", () => {
    expect(check(Buffer.from([0x0a, 0x10, 0x41]))).toBeUndefined(); // a length past the end
    expect(check(field(15, latin1))).toBeUndefined(); // field 15 is not in EmbedRequest
    expect(check(Buffer.from([0x0b]))).toBeUndefined(); // a group
  });

  it("checks nothing for a message without strings", () => {
    expect(
      utf8Checker(loadProtoDescriptors(), "jude.embedding.v1.Embedding")(field(1, latin1)),
    ).toBeUndefined();
  });
});

describe("wireChecker", () => {
  const check = wireChecker(loadProtoDescriptors(), "jude.embedding.v1.EmbedRequest");
  const wire = (detail: string) => ({ kind: "wire", detail });

  it("passes a well-formed request, unknown fields of every wire type included", () => {
    const input = Buffer.concat([field(2, "job"), field(1, "café"), field(3, field(2, "x"))]);
    const unknown = Buffer.concat([
      varintField(15, 3),
      Buffer.from([(14 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]),
      Buffer.from([(13 << 3) | 5, 1, 2, 3, 4]),
      Buffer.from([(12 << 3) | 3, (11 << 3) | 0, 1, (12 << 3) | 4]), // a group holding a varint
    ]);
    expect(check(Buffer.concat([varintField(2, 1), field(1, input), unknown]))).toBeUndefined();
  });

  it("names a length past the end of the bytes, or of the message that holds it", () => {
    expect(check(Buffer.from([0x0a, 0x10, 0x41]))).toEqual(
      wire("field inputs (1) is 16 bytes long, but only 1 byte follows"),
    );
    expect(check(Buffer.concat([Buffer.from([0x0a, 0x03, 0x0a, 0x05, 0x41]), field(4, "BCD")]))).toEqual(
      wire("field inputs.text (1) is 5 bytes long, but only 1 byte follows"),
    );
  });

  it("names a known field sent with another wire type than its type's", () => {
    expect(check(varintField(1, 5))).toEqual(
      wire(
        "field inputs (1) has wire type 0 (varint); a message (EmbedInput) is sent as wire type 2 (length-delimited)",
      ),
    );
    expect(check(field(2, "1"))).toEqual(
      wire("field truncate (2) has wire type 2 (length-delimited); a bool is sent as wire type 0 (varint)"),
    );
  });

  it("names wire types that do not exist, bad groups and cut varints", () => {
    expect(check(Buffer.from([0x0f]))).toEqual(
      wire("field inputs (1) has wire type 7, which does not exist"),
    );
    expect(check(Buffer.from([(12 << 3) | 4]))).toEqual(wire("field 12 ends a group that was not started"));
    expect(check(Buffer.from([(12 << 3) | 3]))).toEqual(wire("group 12 is not ended"));
    expect(check(Buffer.from([0x10, 0xff]))).toEqual(wire("field truncate (2) ends inside its varint"));
    expect(check(Buffer.from([0xff]))).toEqual(wire("the bytes end inside a field's tag, at byte 0"));
  });

  it("refuses a field number above protobuf's largest (2^29 - 1), which protobuf.js would read as a known field", () => {
    // Tag 2^32 + 10: field 2^29 + 1 by its whole value, but field 1 (length-delimited) once cut to
    // the 32 bits protobuf.js reads a tag as, so the Latin-1 text would be decoded as inputs.
    const tag = Buffer.from([0x8a, 0x80, 0x80, 0x80, 0x10]);
    const tei = wireChecker(loadProtoDescriptors(), "tei.v1.EmbedRequest");
    expect(tei(Buffer.concat([tag, Buffer.from([4]), latin1]))).toEqual(
      wire("a field has number 536870913, above the largest protobuf allows (536870911)"),
    );
    expect(check(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10, 0x01]))).toEqual(
      wire("a field has number 536870912, above the largest protobuf allows (536870911)"),
    );
    expect(check(Buffer.from([0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01]))).toBeUndefined(); // 536870911 itself
  });

  it("refuses groups nested deeper than protobuf's recursion limit of 100, rather than overflowing the stack", () => {
    expect(check(Buffer.alloc(200_000, (12 << 3) | 3))).toEqual(
      wire("field 12 nests groups or messages more than 100 deep (protobuf's recursion limit)"),
    );
  });

  it("takes a repeated number packed (wire type 2) or one at a time, but not as another wire type", () => {
    const numbers = wireChecker(loadProtoDescriptors(), "grpc.reflection.v1.ExtensionNumberResponse");
    expect(numbers(field(2, Buffer.from([1, 2, 3])))).toBeUndefined();
    expect(numbers(Buffer.concat([varintField(2, 1), varintField(2, 2)]))).toBeUndefined();
    expect(numbers(Buffer.from([(2 << 3) | 5, 1, 2, 3, 4]))).toEqual(
      wire("field extension_number (2) has wire type 5 (32-bit); an int32 is sent as wire type 0 (varint)"),
    );
  });
});

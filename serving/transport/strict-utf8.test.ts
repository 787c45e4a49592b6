import { describe, expect, it } from "vitest";
import { loadProtoDescriptors } from "./proto.ts";
import { utf8Checker } from "./strict-utf8.ts";

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

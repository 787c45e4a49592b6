import { describe, expect, it } from "vitest";
import { redactUri, sameArtifact } from "./redact.ts";

describe("redactUri", () => {
  it.each([
    ["https://b.s3.amazonaws.com/m.tgz?X-Amz-Signature=abc", "https://b.s3.amazonaws.com/m.tgz?…"],
    ["https://user:pw@models.example.com:8443/m.onnx", "https://models.example.com:8443/m.onnx"],
    ["https://models.example.com/m.onnx#sig=abc", "https://models.example.com/m.onnx"],
    ["file:///models/m.onnx", "file:///models/m.onnx"],
    ["https://user:pw@host:99999/m.onnx?sig=abc", "(an unparseable URI)"],
  ])("%s -> %s", (uri, shown) => {
    expect(redactUri(uri)).toBe(shown);
  });

  it("compares artifacts by scheme, host and path only", () => {
    expect(sameArtifact("https://h/m.tgz", "https://h/m.tgz?X-Amz-Signature=abc")).toBe(true);
    expect(sameArtifact("https://h/m.tgz", "https://h/other.tgz?X-Amz-Signature=abc")).toBe(false);
    expect(sameArtifact("https://h/m.tgz", "not a uri")).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { inSpecTerms } from "./model-source.ts";

describe("a serving message in the spec's terms", () => {
  const model = { uri: "pvc://models/minilm/model.onnx", tokenizerUri: "pvc://tok/t/tokenizer.json" };

  it("names a claim's file by its pvc:// URI, not the path it is mounted at in the pod", () => {
    expect(
      inSpecTerms(
        "last exit: Error, exit code 1 (cannot read /jude/pvc/models/minilm/model.onnx: ENOENT: no such file or directory)",
        model,
      ),
    ).toBe(
      "last exit: Error, exit code 1 (cannot read pvc://models/minilm/model.onnx: ENOENT: no such file or directory)",
    );
    expect(inSpecTerms("cannot read /jude/pvc/tok/t/tokenizer.json: EACCES", model)).toBe(
      "cannot read pvc://tok/t/tokenizer.json: EACCES",
    );
    // The tokenizer beside the model when the spec names none.
    expect(inSpecTerms("cannot read /jude/pvc/models/minilm/tokenizer.json", { uri: model.uri })).toBe(
      "cannot read pvc://models/minilm/tokenizer.json",
    );
  });

  // fetch-model is given a claim's file as file:///jude/pvc/…, and names it so (a digest mismatch).
  it("names a claim's file given as a file:// URI by its pvc:// URI, not file://pvc://", () => {
    expect(
      inSpecTerms(
        "sha256 mismatch for file:///jude/pvc/models/minilm/model.onnx: expected ab, got cd (9 bytes)",
        model,
      ),
    ).toBe("sha256 mismatch for pvc://models/minilm/model.onnx: expected ab, got cd (9 bytes)");
  });

  it("leaves other paths and URIs as they are", () => {
    const text = "cannot read /models/model.onnx: ENOENT; /jude/pvc/models/other.onnx";
    expect(inSpecTerms(text, model)).toBe(text);
    expect(inSpecTerms(text, { uri: "https://example.com/m.onnx" })).toBe(text);
  });
});

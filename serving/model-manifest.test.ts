import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { modelManifestSchema, readModelManifest, resolveModel } from "./model-manifest.ts";

const manifest = modelManifestSchema.parse({
  name: "mini",
  dimensions: 8,
  maxSequenceLength: 128,
  files: { fp32: "model.onnx", int8: "model.int8.onnx" },
  sha256: { "model.onnx": "a".repeat(64) },
});

describe("resolveModel", () => {
  it("takes defaults from the manifest and the digest of the chosen file", async () => {
    const resolved = await resolveModel("/m", manifest, { precision: "fp32" });
    expect(resolved.modelPath).toBe("/m/model.onnx");
    expect(resolved.tokenizerPath).toBe("/m/tokenizer.json");
    expect(resolved.identity).toEqual({
      name: "mini",
      version: "mini",
      digest: `sha256:${"a".repeat(64)}`,
      precision: "fp32",
      dimensions: 8,
      maxSequenceLength: 128,
      pooling: "mean",
      normalize: true,
    });
  });

  it("lets the serving config override the manifest", async () => {
    const digest = `sha256:${"b".repeat(64)}`;
    const resolved = await resolveModel("/m", manifest, {
      precision: "fp32",
      version: "2026-11-01",
      digest,
      pooling: "cls",
      normalize: false,
      maxSequenceLength: 64,
    });
    expect(resolved.identity).toMatchObject({
      version: "2026-11-01",
      digest,
      pooling: "cls",
      normalize: false,
      maxSequenceLength: 64,
    });
  });

  it("computes the digest when the manifest does not list it", async () => {
    const directory = await mkdtemp(join(tmpdir(), "jude-manifest-"));
    await writeFile(join(directory, "model.int8.onnx"), "abc");
    const resolved = await resolveModel(directory, manifest, { precision: "int8" });
    expect(resolved.identity.digest).toBe(
      "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("names the precisions that exist when the requested one does not", async () => {
    await expect(resolveModel("/m", manifest, { precision: "fp16" })).rejects.toThrow(
      "the model directory has no fp16 model; jude-model.json lists fp32, int8",
    );
  });
});

describe("readModelManifest", () => {
  it("says which file is missing or invalid", async () => {
    const directory = await mkdtemp(join(tmpdir(), "jude-manifest-"));
    await expect(readModelManifest(directory)).rejects.toThrow(
      /cannot read the model manifest .*jude-model\.json/,
    );
    await writeFile(join(directory, "jude-model.json"), JSON.stringify({ name: "x", files: {} }));
    await expect(readModelManifest(directory)).rejects.toThrow(/invalid model manifest[\s\S]*dimensions/);
  });
});

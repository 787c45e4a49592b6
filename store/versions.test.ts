import { describe, expect, it } from "vitest";
import { isStoreError } from "./errors.ts";
import {
  describeRedefinition,
  isKnownVersionState,
  parseVersionInfo,
  promptDigest,
  vectorSettingsOf,
} from "./versions.ts";

const settings = { pooling: "mean", normalize: true, maxSequenceLength: 512, precision: "fp32" } as const;
const model = `sha256:${"a".repeat(64)}`;

describe("vector settings in the version registry", () => {
  it("are the settings of a model that shape its vectors, whatever else it has", () => {
    const spec = { uri: "file:///m.onnx", dimensions: 4, ...settings, sha256: "a".repeat(64) };
    expect(vectorSettingsOf(spec)).toEqual(settings);
  });

  it("are described field by field when they differ, with the model and templates", () => {
    const info = { modelDigest: model, prompts: { job: promptDigest("Job: {{title}}") } };
    const recorded = { ...info, vectorSettings: { ...settings } };
    expect(describeRedefinition(recorded, { modelDigest: model, vectorSettings: settings })).toBeUndefined();
    expect(
      describeRedefinition(
        recorded,
        {
          modelDigest: `sha256:${"b".repeat(64)}`,
          prompts: { job: "T {{title}}" },
          vectorSettings: { ...settings, normalize: false, maxSequenceLength: 128 },
        },
        "this spec's ",
      ),
    ).toBe(
      `model ${model}, not this spec's sha256:${"b".repeat(64)}, and normalize true, not this spec's false, and maxSequenceLength 512, not this spec's 128, and prompt template ${promptDigest("Job: {{title}}")} for entity job, not this spec's ${promptDigest("T {{title}}")}`,
    );
  });

  it("are compared only where recorded, so older and later writers' entries are taken", () => {
    const info = { modelDigest: model };
    // An entry only older writers registered (no settings), or a writer not told them: taken.
    expect(describeRedefinition(info, { vectorSettings: { ...settings, pooling: "cls" } })).toBeUndefined();
    expect(
      describeRedefinition({ ...info, vectorSettings: { ...settings } }, { modelDigest: model }),
    ).toBeUndefined();
    // A setting a later release records and this one does not know: kept, not compared.
    const later = { ...info, vectorSettings: { ...settings, tokenizer: "sha256:x" } };
    expect(describeRedefinition(later, { vectorSettings: settings })).toBeUndefined();
    expect(describeRedefinition(later, { vectorSettings: { ...settings, pooling: "cls" } })).toBe(
      "pooling mean, not cls",
    );
  });
});

describe("registry entries of a newer release", () => {
  const entry = {
    version: "v2",
    modelDigest: model,
    dtype: "f32",
    dimension: 4,
    createdAtMs: 1,
  };

  // After a downgrade an older operator reads the registry a newer one wrote: a state it does not know
  // is kept as written (never complete for its decisions), not a CORRUPT_RECORD that fails every
  // listVersions and with it every reconcile of the model.
  it("a state this release does not know is read as written, and is not a known state", () => {
    const info = parseVersionInfo(JSON.stringify({ ...entry, state: "sealed" }));
    expect(info.state).toBe("sealed");
    expect(isKnownVersionState(info.state)).toBe(false);
    for (const state of ["building", "complete", "deleting"])
      expect(isKnownVersionState(parseVersionInfo(JSON.stringify({ ...entry, state })).state)).toBe(true);
  });

  it("an entry without a state, or with one that is no string, is still CORRUPT_RECORD", () => {
    for (const state of [undefined, 3, null]) {
      let error: unknown;
      try {
        parseVersionInfo(JSON.stringify({ ...entry, state }));
      } catch (caught) {
        error = caught;
      }
      expect(isStoreError(error, "CORRUPT_RECORD")).toBe(true);
    }
  });
});

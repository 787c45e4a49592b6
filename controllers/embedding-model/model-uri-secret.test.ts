// A model behind a signed URL: the credential stays in a Secret, read only by the fetch-model init
// container through a secretKeyRef variable; spec, pod args, ConfigMaps and messages never hold it.
import type { V1Container, V1Deployment } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { safeParseEmbeddingModel, type EmbeddingModel } from "../../crds/index.ts";
import { referenceBlocker } from "./blockers.ts";
import { redactUri } from "../../serving/fetch-model/redact.ts";
import { modelSources } from "./model-source.ts";
import { referencedObjects } from "./references.ts";
import { modelUriEnv } from "./serving-container.ts";
import { httpsModel, testImages } from "./test-models.ts";
import { desiredVersionObjects } from "./version-objects.ts";
import { desiredVersionRecord, recordedSpec } from "./version-record.ts";

const cleanUri = "https://bucket.s3.amazonaws.com/minilm/v7/model.tar.gz";
const signedUri = `${cleanUri}?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=5f1e0cafe0000001`;
const uriSecretRef = { name: "minilm-download", key: "url" };

function withModel(model: Record<string, unknown>): unknown {
  const base = httpsModel();
  return { ...base, spec: { ...base.spec, model: { ...base.spec.model, ...model } } };
}

function parsed(model: Record<string, unknown>): EmbeddingModel {
  const result = safeParseEmbeddingModel(withModel(model));
  if (!result.success) throw result.error;
  return result.data;
}

function refusal(model: Record<string, unknown>): string {
  const result = safeParseEmbeddingModel(withModel(model));
  expect(result.success, "the schema accepted the model").toBe(false);
  return result.success ? "" : result.error.message;
}

describe("a model URL with credentials", () => {
  it.each([
    ["an S3 pre-signed URL", signedUri],
    ["a GCS signed URL", `${cleanUri}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=abc`],
    ["an Azure SAS URL", `${cleanUri}?sv=2022-11-02&se=2026-12-04&SIG=abc%3D`],
    ["a token", `${cleanUri}?download=1&access_token=abc`],
  ])("is refused in spec.model.uri, pointing at uriSecretRef: %s", (_name, uri) => {
    expect(refusal({ uri })).toMatch(/spec\.model\.uri.*uriSecretRef/s);
  });

  it("is refused with user:password@ and in tokenizerUri", () => {
    expect(refusal({ uri: "https://user:secret@models.example.com/m.tar.gz" })).toMatch(/uriSecretRef/);
    expect(refusal({ tokenizerUri: "https://models.example.com/t.json?X-Amz-Signature=abc" })).toMatch(
      /spec\.model\.tokenizerUri/,
    );
  });

  it("is accepted without credentials in its query, still an archive", () => {
    const model = parsed({ uri: `${cleanUri}?download=1` });
    expect(modelSources(model.spec.model).archive).toBe(true);
  });

  it("takes uriSecretRef only with an https:// uri", () => {
    expect(refusal({ uri: "pvc://models/minilm/model.tar.gz", uriSecretRef })).toMatch(
      /spec\.model\.uriSecretRef/,
    );
  });
});

describe("spec.model.uriSecretRef", () => {
  const model = parsed({ uri: cleanUri, uriSecretRef });
  const objects = desiredVersionObjects(model, testImages);
  const deployment = objects.find((object) => (object as { kind: string }).kind === "Deployment");
  const initContainers = (deployment as V1Deployment).spec!.template.spec!.initContainers!;
  const fetch = initContainers.find((container) => container.name === "fetch-model") as V1Container;

  it("reaches fetch-model only as a secretKeyRef variable; --uri is the credential-free form", () => {
    expect(fetch.env).toEqual([
      { name: modelUriEnv, valueFrom: { secretKeyRef: { name: "minilm-download", key: "url" } } },
    ]);
    expect(fetch.args).toEqual(expect.arrayContaining(["--uri", cleanUri, "--uri-env", modelUriEnv]));
    for (const container of initContainers.filter((container) => container !== fetch))
      expect(container.env).toBeUndefined();
  });

  it("is recorded by reference in the version record, which holds the uri and sha256", () => {
    const record = desiredVersionRecord(model, {
      version: model.spec.version,
      spec: recordedSpec(model),
      promotionStartTime: "2026-12-03T00:00:00Z",
    });
    const recorded = JSON.parse(record.data!["spec.json"]!) as { model: Record<string, unknown> };
    expect(recorded.model).toMatchObject({ uri: cleanUri, uriSecretRef, sha256: "a".repeat(64) });
  });

  it("is a Secret reference: a missing Secret or key stalls the model naming the field", () => {
    const reference = referencedObjects(model).find((ref) => ref.field === "spec.model.uriSecretRef");
    expect(reference).toMatchObject({
      kind: "Secret",
      name: "minilm-download",
      keys: ["url"],
      field: "spec.model.uriSecretRef",
    });
    expect(referenceBlocker(reference!, { found: false })).toEqual({
      reason: "SecretNotFound",
      message: "Secret minilm-download (spec.model.uriSecretRef) does not exist",
      recheck: true,
    });
    expect(referenceBlocker(reference!, { found: true, keys: ["URL"] })).toEqual({
      reason: "SecretKeyNotFound",
      message: "Secret minilm-download has no key url (spec.model.uriSecretRef)",
      recheck: true,
    });
  });

  it("stalls at once when the Secret's URL names another artifact, quoting neither credential nor query", () => {
    const reference = referencedObjects(model).find((ref) => ref.field === "spec.model.uriSecretRef")!;
    const same = redactUri(`${cleanUri}?X-Amz-Signature=secret`);
    expect(referenceBlocker(reference, { found: true, keys: ["url"], redactedUrl: same })).toBeUndefined();
    const other = redactUri(`${cleanUri.replace("model.tar.gz", "other.tar.gz")}?X-Amz-Signature=secret`);
    const blocker = referenceBlocker(reference, { found: true, keys: ["url"], redactedUrl: other });
    expect(blocker).toEqual({
      reason: "SecretURLMismatch",
      message: `the URL in Secret minilm-download key url (spec.model.uriSecretRef) names ${other}, not ${cleanUri} (spec.model.uri): they must name the same artifact, the Secret's with its credentials`,
      recheck: true,
    });
    expect(blocker!.message).not.toContain("Signature");
    const garbled = referenceBlocker(reference, {
      found: true,
      keys: ["url"],
      redactedUrl: redactUri("not a url"),
    });
    expect(garbled?.reason).toBe("SecretURLMismatch");
    expect(garbled?.message).toContain("names (an unparseable URI)");
  });
});

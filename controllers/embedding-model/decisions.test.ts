import { describe, expect, it } from "vitest";
import { referenceBlocker, specBlockers } from "./blockers.ts";
import { referencedObjects } from "./references.ts";
import { httpsModel } from "./test-models.ts";
import { observeDeployment, servingState, type DeploymentObservation } from "./version-status.ts";

const rolledOut: DeploymentObservation = {
  generation: 2,
  observedGeneration: 2,
  replicas: 2,
  updatedReplicas: 2,
  readyReplicas: 2,
  availableReplicas: 2,
  progressDeadlineExceeded: false,
};

describe("serving state of a version (decision table)", () => {
  it.each([
    ["no Deployment yet", undefined, "Reconciling", "Creating"],
    ["all replicas updated, ready, available", rolledOut, "Ready", "ServingReady"],
    [
      "scaled to zero",
      { ...rolledOut, replicas: 0, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 },
      "Ready",
      "ServingReady",
    ],
    ["new spec not observed yet", { ...rolledOut, generation: 3 }, "Reconciling", "RollingOut"],
    ["pods not ready", { ...rolledOut, readyReplicas: 1, availableReplicas: 1 }, "Reconciling", "RollingOut"],
    ["old pods not yet replaced", { ...rolledOut, updatedReplicas: 1 }, "Reconciling", "RollingOut"],
    [
      "progress deadline exceeded",
      { ...rolledOut, readyReplicas: 0, progressDeadlineExceeded: true },
      "Stalled",
      "ProgressDeadlineExceeded",
    ],
  ] as const)("%s -> %s (%s)", (_, deployment, state, reason) => {
    expect(servingState(deployment)).toMatchObject({ state, reason });
  });

  it("says FailedCreate with the API server's answer while its pods are refused, and names it at the deadline", () => {
    const answer =
      'pods "jude-minilm-minilm-v1-574cc44bf6-mtw9d" is forbidden: no PriorityClass with name online-serving was found';
    const refused = {
      ...rolledOut,
      readyReplicas: 0,
      availableReplicas: 0,
      updatedReplicas: 0,
      refused: { message: answer },
    };
    const rollingOut = servingState(refused);
    expect(rollingOut).toMatchObject({ state: "Reconciling", reason: "FailedCreate" });
    expect(rollingOut.message).toMatch(
      /^0\/2 replicas ready, 0\/2 updated; the API server refuses to create its pods/,
    );
    expect(rollingOut.message).toContain(answer);
    const stuck = servingState({ ...refused, progressDeadlineExceeded: true });
    expect(stuck).toMatchObject({ state: "Stalled", reason: "ProgressDeadlineExceeded" });
    expect(stuck.message).toContain(answer);
    expect(stuck.message).not.toContain("see the pods' events");
  });

  it("reads the refusal from the Deployment's ReplicaFailure condition", () => {
    const observed = observeDeployment({
      metadata: { generation: 1 },
      spec: { replicas: 1 },
      status: {
        observedGeneration: 1,
        conditions: [{ type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: "quota" }],
      },
    });
    expect(observed?.refused).toEqual({ message: "quota" });
  });

  it("is not Ready below the autoscaler's floor before the HPA has raised the replicas", () => {
    const one = { ...rolledOut, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 };
    expect(servingState(one, 2)).toMatchObject({
      state: "Reconciling",
      message: "1/2 replicas ready, 1/2 updated",
    });
    expect(servingState(rolledOut, 2)).toMatchObject({ state: "Ready" });
  });
});

describe("blockers", () => {
  const secret = {
    kind: "Secret",
    name: "minilm-token",
    keys: ["token"],
    field: "spec.serving.auth.tokenSecretRef",
  } as const;
  it.each([
    ["Secret absent", secret, { found: false }, "SecretNotFound"],
    ["Secret without the key", secret, { found: true, keys: ["other"] }, "SecretKeyNotFound"],
    ["Secret with the key", secret, { found: true, keys: ["token"] }, undefined],
    [
      "claim absent",
      { kind: "PersistentVolumeClaim", name: "jude-models", field: "spec.model.uri" },
      { found: false },
      "PersistentVolumeClaimNotFound",
    ],
    [
      "claim present",
      { kind: "PersistentVolumeClaim", name: "jude-models", field: "spec.model.uri" },
      { found: true },
      undefined,
    ],
  ] as const)("%s -> %s", (_, reference, lookup, reason) => {
    expect(referenceBlocker(reference, lookup)?.reason).toBe(reason);
  });

  it("names the keys a TLS Secret lacks: jude serve reads tls.crt and tls.key from it", () => {
    const model = httpsModel();
    const [tls] = referencedObjects(model).filter(
      (reference) => reference.field === "spec.serving.tls.secretName",
    );
    expect(referenceBlocker(tls!, { found: true, keys: ["tls.crt", "tls.key", "ca.crt"] })).toBeUndefined();
    // An Opaque Secret made with --from-file=cert.pem --from-file=key.pem: the pods would crash-loop.
    expect(referenceBlocker(tls!, { found: true, keys: ["cert.pem", "key.pem"] })).toEqual({
      reason: "SecretKeyNotFound",
      message: "Secret minilm-tls has no key tls.crt, tls.key (spec.serving.tls.secretName)",
      recheck: true,
    });
    expect(referenceBlocker(tls!, { found: true, keys: ["tls.crt"] })?.message).toBe(
      "Secret minilm-tls has no key tls.key (spec.serving.tls.secretName)",
    );
  });

  it("stalls on specs the pods cannot honour, naming the field", () => {
    const model = httpsModel();
    expect(specBlockers(model, undefined)).toEqual([]);
    model.spec.serving.tls = { secretName: "minilm-tls", requireClientCertificate: true };
    model.spec.model.sha256 = undefined;
    expect(
      specBlockers(model, new Error("batching.maxQueueDelayMs: too big")).map((b) => [
        b.reason,
        b.message.split(" ")[0],
      ]),
    ).toEqual([
      ["UnsupportedSpec", "spec.model.sha256"],
      ["InvalidServingConfig", "jude"],
    ]);
  });

  // The README's "On your own cluster" says an https:// or signed URL must name a model archive.
  it("stalls on a bare https:// ONNX file: its tokenizer beside it has no checksum to verify it", () => {
    const model = httpsModel();
    model.spec.model.uri = "https://models.example.com/minilm/v7/model.onnx";
    expect(specBlockers(model, undefined)).toEqual([
      expect.objectContaining({
        reason: "UnsupportedSpec",
        message:
          "spec.model.tokenizerUri https://models.example.com/minilm/v7/tokenizer.json is https:// but has no checksum field to verify it; put the tokenizer on a PVC, in the image, or serve a model archive (.tar.gz with jude-model.json)",
      }),
    ]);
  });
});

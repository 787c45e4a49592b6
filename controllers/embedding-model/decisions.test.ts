import { describe, expect, it } from "vitest";
import { referenceBlocker, specBlockers } from "./blockers.ts";
import {
  decideModelKstatus,
  modelStatus,
  servedVersions,
  versionPhase,
  type VersionReport,
} from "./model-status.ts";
import { httpsModel } from "./test-models.ts";
import { servingState, type DeploymentObservation } from "./version-status.ts";

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
});

describe("model kstatus (decision table)", () => {
  const ready = servingState(rolledOut);
  const rolling = servingState({ ...rolledOut, readyReplicas: 1 });
  const stuck = servingState({ ...rolledOut, progressDeadlineExceeded: true });
  const missingSecret = {
    reason: "SecretNotFound",
    message: "Secret minilm-token (spec.serving.auth.tokenSecretRef) does not exist",
  };
  it.each([
    ["ready, no blockers", [], ready, "Ready", "Ready"],
    ["rolling out", [], rolling, "Reconciling", "RollingOut"],
    ["rollout stuck", [], stuck, "Stalled", "ProgressDeadlineExceeded"],
    ["missing Secret while the old pods still run", [missingSecret], ready, "Stalled", "SecretNotFound"],
    ["missing Secret during a rollout", [missingSecret], rolling, "Stalled", "SecretNotFound"],
  ] as const)("%s -> %s", (_, blockers, serving, state, reason) => {
    expect(decideModelKstatus("v1", blockers, serving)).toMatchObject({ state, reason });
  });

  it("names every blocker in the message", () => {
    const verdict = decideModelKstatus(
      "v1",
      [
        missingSecret,
        {
          reason: "PersistentVolumeClaimNotFound",
          message: "PersistentVolumeClaim jude-models (spec.model.uri) does not exist",
        },
      ],
      ready,
    );
    expect(verdict.message).toContain("minilm-token");
    expect(verdict.message).toContain("jude-models");
  });
});

describe("served versions (decision table)", () => {
  it.each([
    ["first version, not ready", "v1", undefined, false, ["v1"], "v1"],
    ["first version ready", "v1", undefined, true, ["v1"], "v1"],
    ["steady state", "v1", "v1", true, ["v1"], "v1"],
    ["new version deploying: old keeps serving and stays active", "v2", "v1", false, ["v1", "v2"], "v1"],
    ["new version ready: it takes over alone", "v2", "v1", true, ["v2"], "v2"],
  ] as const)("%s", (_, spec, active, ready, serve, selected) => {
    expect(servedVersions(spec, active, ready)).toEqual({ serve, active: selected });
  });
});

describe("blockers", () => {
  const secret = {
    kind: "Secret",
    name: "minilm-token",
    key: "token",
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
});

describe("model status", () => {
  const report = (overrides: Partial<VersionReport>): VersionReport => ({
    version: "v1",
    serving: servingState(rolledOut),
    endpoint: "m-v1.ns.svc:50051",
    modelDigest: "a".repeat(64),
    active: true,
    ...overrides,
  });

  it("gives each version a phase", () => {
    expect(versionPhase(report({}))).toBe("Active");
    expect(versionPhase(report({ active: false }))).toBe("Deploying");
    expect(versionPhase(report({ serving: servingState(undefined) }))).toBe("Deploying");
    expect(
      versionPhase(report({ serving: servingState({ ...rolledOut, progressDeadlineExceeded: true }) })),
    ).toBe("Failed");
  });

  it("records observedGeneration, the trio and ServingReady, keeping transition times", () => {
    const first = modelStatus({
      generation: 4,
      previousConditions: undefined,
      verdict: { state: "Reconciling", reason: "RollingOut", message: "1/2" },
      versions: [report({ serving: servingState({ ...rolledOut, readyReplicas: 1 }) })],
      activeVersion: undefined,
      now: new Date("2026-01-01T00:00:00Z"),
    });
    expect(first.observedGeneration).toBe(4);
    expect(first.activeVersion).toBeUndefined();
    expect(first.conditions?.map((c) => [c.type, c.status])).toEqual([
      ["Ready", "False"],
      ["Reconciling", "True"],
      ["Stalled", "False"],
      ["ServingReady", "False"],
    ]);
    const second = modelStatus({
      generation: 4,
      previousConditions: first.conditions,
      verdict: { state: "Ready", reason: "Ready", message: "2/2" },
      versions: [report({})],
      activeVersion: "v1",
      now: new Date("2026-01-01T00:01:00Z"),
    });
    expect(second.activeVersion).toBe("v1");
    expect(second.versions).toEqual([
      {
        version: "v1",
        phase: "Active",
        readyReplicas: 2,
        endpoint: "m-v1.ns.svc:50051",
        modelDigest: "a".repeat(64),
      },
    ]);
    const stalled = second.conditions?.find((c) => c.type === "Stalled");
    expect(stalled?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    expect(second.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime).toBe(
      "2026-01-01T00:01:00Z",
    );
  });
});

// An older version still served (the active one during a promotion, the draining one during the bake
// after it) renders from its record, which may name another TLS or token Secret than today's spec. When
// that Secret is missing its running pods keep serving, but one that stops cannot start again: said in
// the verdict's message and a Warning Event naming the version, the Secret and the consequence, the
// promotion going on as before, said once, and gone once the Secret is back.
import { describe, expect, it } from "vitest";
import type { EmbeddingModelStatus } from "../../crds/index.ts";
import { blockedServing, referenceBlocker } from "./blockers.ts";
import {
  olderVersionEvents,
  olderVersionProblem,
  reconcileEvents,
  withOlderVersionProblems,
  withoutOlderVersionProblems,
  type OlderVersionProblem,
} from "./older-version-references.ts";
import { promoting, ready, rolling } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";
import { promotionEvents, promotionStatus } from "./promotion-status.ts";

const tlsOfV1 = {
  kind: "Secret" as const,
  name: "tls-v1",
  keys: ["tls.crt", "tls.key"],
  field: "spec.serving.tls.secretName",
};
const tokenOfV1 = {
  kind: "Secret" as const,
  name: "token-v1",
  keys: ["token"],
  field: "spec.serving.auth.tokenSecretRef",
};

describe("olderVersionProblem", () => {
  it("a missing TLS Secret: names the version, the Secret, the record's field and what it means", () => {
    expect(olderVersionProblem("v1", tlsOfV1, { found: false })).toEqual({
      version: "v1",
      reason: "SecretNotFound",
      message:
        "version v1's pods mount Secret tls-v1 (spec.serving.tls.secretName in the version's record), which does not exist: its running pods keep serving, but a pod that stops cannot start again until the Secret is restored",
    });
  });

  it("a missing token Secret: the same", () => {
    expect(olderVersionProblem("v1", tokenOfV1, { found: false })).toMatchObject({
      reason: "SecretNotFound",
      message: expect.stringContaining(
        "version v1's pods mount Secret token-v1 (spec.serving.auth.tokenSecretRef in the version's record), which does not exist",
      ),
    });
  });

  it("a key the pods read missing: names the key", () => {
    expect(olderVersionProblem("v1", tlsOfV1, { found: true, keys: ["tls.crt"] })).toEqual({
      version: "v1",
      reason: "SecretKeyNotFound",
      message:
        "version v1's pods read Secret tls-v1 (spec.serving.tls.secretName in the version's record), which has no key tls.key: its running pods keep serving, but a pod that stops cannot start again until the key is restored",
    });
  });

  it("nothing when the Secret has what the pods read", () => {
    expect(olderVersionProblem("v1", tlsOfV1, { found: true, keys: ["tls.crt", "tls.key"] })).toBeUndefined();
  });
});

const missingTls = olderVersionProblem("v1", tlsOfV1, { found: false })!;

describe("withOlderVersionProblems", () => {
  it("keeps the promotion's verdict (state, reason, phases, pointer) and adds what it found to its message", () => {
    const decision = decidePromotion(promoting({ serving: { v1: ready, v2: rolling } }));
    const told = withOlderVersionProblems(decision, [missingTls]);
    expect(told.verdict.state).toBe(decision.verdict.state);
    expect(told.verdict.reason).toBe(decision.verdict.reason);
    expect(told.verdict.message).toBe(`${decision.verdict.message}; ${missingTls.message}`);
    expect(told.phases).toEqual(decision.phases);
    expect(told.switchPointer).toEqual(decision.switchPointer);
    expect(told.serve).toEqual(decision.serve);
    expect(told.stalled).toBe(decision.stalled);
    const status = promotionStatus({
      generation: 2,
      previous: undefined,
      decision: told,
      specVersion: "v2",
      serving: { v1: ready, v2: rolling },
      records: told.records,
      endpoint: (version) => `${version}:50051`,
      hasData: false,
      now: new Date("2026-12-02T12:00:00Z"),
    });
    const readyCondition = status.conditions?.find((condition) => condition.type === "Ready");
    expect(readyCondition?.message).toContain(missingTls.message);
  });

  it("is the decision itself when nothing is missing", () => {
    const decision = decidePromotion(promoting({ serving: { v1: ready, v2: rolling } }));
    expect(withOlderVersionProblems(decision, [])).toBe(decision);
  });

  it("with the candidate also waiting for a Secret: both are said, the candidate's reason kept", () => {
    const missingToken = referenceBlocker(
      { kind: "Secret", name: "token-v2", keys: ["token"], field: "spec.serving.auth.tokenSecretRef" },
      { found: false },
    )!;
    const decision = decidePromotion(
      promoting({ serving: { v1: ready, v2: blockedServing(rolling, [missingToken]) } }),
    );
    const told = withOlderVersionProblems(decision, [missingTls]);
    expect(told.verdict.reason).toBe("SecretNotFound");
    expect(told.verdict.message).toContain(missingToken.message);
    expect(told.verdict.message).toContain(missingTls.message);
  });
});

describe("olderVersionEvents", () => {
  const previousWith = (message: string): EmbeddingModelStatus => ({
    activeVersion: "v1",
    versions: [
      { version: "v1", phase: "Active" },
      { version: "v2", phase: "Deploying" },
    ],
    conditions: [
      {
        type: "Ready",
        status: "False",
        reason: "ServingNotReady",
        message,
        lastTransitionTime: "2026-12-02T12:00:00Z",
      },
    ],
  });

  it("a Warning Event when the problem is new", () => {
    expect(olderVersionEvents(previousWith("promoting v2: ServingReady: 0/1"), [missingTls])).toEqual([
      { warning: true, reason: "SecretNotFound", message: missingTls.message },
    ]);
  });

  it("none while the last status already said it (each reconcile of the promotion finds it again)", () => {
    const problems: OlderVersionProblem[] = [missingTls];
    const decision = withOlderVersionProblems(
      decidePromotion(promoting({ serving: { v1: ready, v2: rolling } })),
      problems,
    );
    expect(olderVersionEvents(previousWith(decision.verdict.message), problems)).toEqual([]);
    // Nor an Event of the promotion's own for the longer message.
    const previous = previousWith(decision.verdict.message);
    expect(promotionEvents(previous, decision).filter((event) => event.reason === "SecretNotFound")).toEqual(
      [],
    );
  });

  it("none once the Secret is back", () => {
    expect(olderVersionEvents(previousWith(`x; ${missingTls.message}`), [])).toEqual([]);
  });
});

// The candidate waiting for a Secret has its Warning Event when its cause or wording is new; an older
// version's problem said after that message is not a new wording of the candidate's cause.
describe("the candidate's missing-Secret Event beside an older version's problem", () => {
  const missingToken = referenceBlocker(
    { kind: "Secret", name: "token-v2", keys: ["token"], field: "spec.serving.auth.tokenSecretRef" },
    { found: false },
  )!;
  const acted = decidePromotion(
    promoting({ serving: { v1: ready, v2: blockedServing(rolling, [missingToken]) } }),
  );
  const statusOf = (problems: OlderVersionProblem[]) =>
    promotionStatus({
      generation: 2,
      previous: undefined,
      decision: withOlderVersionProblems(acted, problems),
      specVersion: "v2",
      serving: { v1: ready, v2: blockedServing(rolling, [missingToken]) },
      records: acted.records,
      endpoint: (version) => `${version}:50051`,
      hasData: false,
      now: new Date("2026-12-02T12:00:00Z"),
    });
  // As reconcile.ts writeStatus says them.
  const events = (previous: EmbeddingModelStatus, problems: OlderVersionProblem[]) =>
    reconcileEvents(previous, acted, problems);

  it("an older version's Secret going missing adds its own Event only", () => {
    expect(acted.verdict.reason).toBe("SecretNotFound");
    expect(events(statusOf([]), [missingTls])).toEqual([
      { warning: true, reason: "SecretNotFound", message: missingTls.message },
    ]);
  });

  it("it coming back says nothing again", () => {
    expect(events(statusOf([missingTls]), [])).toEqual([]);
  });

  it("while both stay, nothing", () => {
    expect(events(statusOf([missingTls]), [missingTls])).toEqual([]);
  });
});

describe("withoutOlderVersionProblems", () => {
  it("leaves the verdict's own causes, those about versions included", () => {
    const verdict = "promoting v2: ServingReady: version v2: 0/1; version v3: Secret x does not exist";
    expect(withoutOlderVersionProblems(verdict)).toBe(verdict);
    expect(withoutOlderVersionProblems(`${verdict}; ${missingTls.message}; ${missingTls.message}`)).toBe(
      verdict,
    );
  });
});

// A verdict's message near the CRDs' 32 KiB cap (many shards' words, a webhook's long answer): the
// problems said after it must survive the cap, or every reconcile finds them unsaid and warns again.
describe("an older version's problem after a very long verdict message", () => {
  it("is kept in the capped Ready message and warned once", () => {
    const acted = decidePromotion(promoting({ serving: { v1: ready, v2: rolling } }));
    const long = { ...acted, verdict: { ...acted.verdict, message: `promoting v2: ${"x".repeat(40_000)}` } };
    const status = promotionStatus({
      generation: 2,
      previous: undefined,
      decision: withOlderVersionProblems(long, [missingTls]),
      specVersion: "v2",
      serving: { v1: ready, v2: rolling },
      records: long.records,
      endpoint: (version) => `${version}:50051`,
      hasData: false,
      now: new Date("2026-12-02T12:00:00Z"),
    });
    const message = status.conditions?.find((condition) => condition.type === "Ready")?.message ?? "";
    expect(message.length).toBeLessThanOrEqual(32_768);
    expect(message).toContain(missingTls.message);
    expect(olderVersionEvents(status, [missingTls])).toEqual([]);
  });
});

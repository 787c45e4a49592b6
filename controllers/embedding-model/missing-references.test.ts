// A Secret or claim the serving pods need that does not exist (yet): the candidate waits for it within
// the promotion's progress deadline (Reconciling, reason SecretNotFound..., a Warning Event), it does
// not turn Failed while the operator keeps looking; the active version keeps its phase and its ready
// replicas; past the deadline the promotion is Stalled as any other. A spec the pods cannot honour is
// not waited for.
import { describe, expect, it } from "vitest";
import { blockedServing, referenceBlocker, type Blocker } from "./blockers.ts";
import { ago, promoting, ready, record, rolling } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";
import { promotionEvents } from "./promotion-status.ts";
import type { EmbeddingModelStatus } from "../../crds/index.ts";
import { kstatusConditions, maxConditionMessage, setConditions } from "../shared/conditions.ts";

const missingToken = referenceBlocker(
  { kind: "Secret", name: "minilm-token", keys: ["token"], field: "spec.serving.auth.tokenSecretRef" },
  { found: false },
)!;
const missingClaim = referenceBlocker(
  { kind: "PersistentVolumeClaim", name: "models-v2", field: "spec.model.uri" },
  { found: false },
)!;
const unsupported: Blocker = {
  reason: "UnsupportedSpec",
  message: "spec.serving.tls.requireClientCertificate is not supported",
};

const activeStatus: EmbeddingModelStatus = {
  activeVersion: "v1",
  versions: [{ version: "v1", phase: "Active", readyReplicas: 1 }],
  conditions: [],
};

describe("a reference the candidate's pods need is missing", () => {
  it.each([
    ["the token Secret", missingToken],
    ["the model claim", missingClaim],
  ])(
    "%s: the candidate waits (Deploying, Reconciling), v1 keeps serving, a Warning Event names it",
    (_, blocker) => {
      const decision = decidePromotion(
        promoting({ serving: { v1: ready, v2: blockedServing(rolling, [blocker]) } }),
      );
      expect(decision.phases).toMatchObject({ v1: "Active", v2: "Deploying" });
      expect(decision.switchPointer).toBeUndefined();
      expect(decision.queryVersion).toBe("v1");
      expect(decision.verdict).toMatchObject({ state: "Reconciling", reason: blocker.reason });
      expect(decision.verdict.message).toContain(blocker.message);
      expect(decision.stalled).toBe(false);
      const events = promotionEvents(activeStatus, decision);
      expect(events).toContainEqual({
        warning: true,
        reason: blocker.reason,
        message: expect.stringContaining(blocker.message),
      });
      // Said once: the same cause on the next reconcile is no new Event.
      const sameAgain = promotionEvents(
        {
          ...activeStatus,
          versions: [...activeStatus.versions!, { version: "v2", phase: "Deploying", readyReplicas: 0 }],
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: decision.verdict.reason,
              message: decision.verdict.message,
              lastTransitionTime: "2026-12-02T12:00:00Z",
            },
          ],
        },
        decision,
      );
      expect(sameAgain.filter((event) => event.reason === blocker.reason)).toEqual([]);
    },
  );

  it("past the promotion's progress deadline: Stalled PromotionDeadlineExceeded naming the missing Secret, v2 Failed", () => {
    const decision = decidePromotion(
      promoting({
        serving: { v1: ready, v2: blockedServing(rolling, [missingToken]) },
        records: [
          record("v1", { activatedTime: ago(9000), workers: true }),
          record("v2", { promotionStartTime: ago(3700) }),
        ],
      }),
    );
    expect(decision.phases).toMatchObject({ v1: "Active", v2: "Failed" });
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "PromotionDeadlineExceeded" });
    expect(decision.verdict.message).toContain(
      "Secret minilm-token (spec.serving.auth.tokenSecretRef) does not exist",
    );
  });

  it("a spec the pods cannot honour is not waited for: Stalled at once", () => {
    const decision = decidePromotion(
      promoting({ serving: { v1: ready, v2: blockedServing(rolling, [unsupported, missingToken]) } }),
    );
    expect(decision.phases.v2).toBe("Failed");
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "UnsupportedSpec" });
  });

  it("the active version whose token Secret was deleted keeps its phase and ready replicas", () => {
    const input = promoting({
      specVersion: "v1",
      spec: promoting().records[0]!.spec,
      store: {
        name: "jobs-store",
        current: "v1",
        backup: null,
        flippedAtMs: null,
        versions: { v1: "complete" },
      },
      records: [record("v1", { activatedTime: ago(7000), workers: true })],
      serving: { v1: blockedServing({ ...ready, readyReplicas: 2 }, [missingToken]) },
      writersPresent: ["v1"],
    });
    expect(input.serving.v1!.readyReplicas).toBe(2);
    const decision = decidePromotion(input);
    expect(decision.phases.v1).toBe("Active");
    expect(decision.verdict).toMatchObject({ reason: "SecretNotFound" });
    expect(decision.verdict.message).toContain("Secret minilm-token");
  });
});

/** v1 active in the store, v2's BootstrapRun not created for `runBlocked`. */
function runBlockedDecision(runBlocked: { reason: string; message: string }) {
  return decidePromotion(
    promoting({
      store: {
        name: "jobs-store",
        current: "v1",
        backup: null,
        flippedAtMs: null,
        versions: { v1: "complete" },
      },
      candidate: { runBlocked },
    }),
  );
}

describe("a pipeline's Kafka Secret missing before the candidate's BootstrapRun exists", () => {
  const runBlocked = {
    reason: "SecretNotFound",
    message:
      "NearlinePipeline jobs: spec.source.kafka.sasl.usernameSecretRef names Secret kafka-user, which does not exist",
  };
  it("keeps the bootstrap gate shut naming it, and the promotion Reconciling until the deadline", () => {
    const decision = runBlockedDecision(runBlocked);
    expect(decision.phases).toMatchObject({ v1: "Active", v2: "Bootstrapping" });
    expect(decision.verdict).toMatchObject({ state: "Reconciling", reason: "SecretNotFound" });
    expect(decision.verdict.message).toContain(
      `BootstrapRun for version v2 cannot be created: ${runBlocked.message}`,
    );
    expect(promotionEvents(activeStatus, decision)).toContainEqual(
      expect.objectContaining({ warning: true, reason: "SecretNotFound" }),
    );
  });
});

describe("a missing-reference message longer than a condition may hold", () => {
  it("is warned about once: the next reconcile compares it as the status stored it (cut)", () => {
    const runBlocked = {
      reason: "SecretNotFound",
      message: `NearlinePipeline jobs: ${"spec.source.kafka.sasl.usernameSecretRef names Secret kafka-user, which does not exist; ".repeat(400)}`,
    };
    const decision = runBlockedDecision(runBlocked);
    expect(decision.verdict.message.length).toBeGreaterThan(maxConditionMessage);
    const warned = (events: ReturnType<typeof promotionEvents>) =>
      events.filter((event) => event.warning && event.reason === "SecretNotFound");
    expect(warned(promotionEvents(activeStatus, decision))).toHaveLength(1);
    const stored: EmbeddingModelStatus = {
      ...activeStatus,
      conditions: setConditions(activeStatus.conditions, kstatusConditions(decision.verdict), 1, new Date()),
    };
    expect(warned(promotionEvents(stored, decision))).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { KubeApiError } from "../../operator/runtime/api-error.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import { credentialQueryParameters } from "../../crds/patterns.ts";
import { assertStoreUrl } from "../../store/connection.ts";
import { fakeContext, summarizeCalls, type RecordedCall } from "../nearline-pipeline/fake-context.ts";
import {
  describeFailure,
  notSyncedVerdict,
  redactSecrets,
  reconcileErrorVerdict,
  reportNotSynced,
  reportReconcileError,
} from "./reconcile-error.ts";

/** A client library's error around the socket's, as @platformatic/kafka and ioredis build them. */
function wrapped(): Error {
  const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  const network = new Error("Connection to 127.0.0.1:1 failed.", { cause: socket });
  const any = Object.assign(new Error("Cannot connect to any broker."), { errors: [network] });
  return new Error("cannot read the end offsets of topic jobs from 127.0.0.1:1", { cause: any });
}

describe("describeFailure", () => {
  it.each([
    [
      "the causes down to the socket error, on one line",
      wrapped(),
      "cannot read the end offsets of topic jobs from 127.0.0.1:1: Cannot connect to any broker: Connection to 127.0.0.1:1 failed: connect ECONNREFUSED 127.0.0.1:1",
    ],
    [
      "an AggregateError without a message of its own",
      new AggregateError([new Error("connect ECONNREFUSED ::1:6379"), new Error("second")], ""),
      "connect ECONNREFUSED ::1:6379",
    ],
    ["line breaks and repeats", new Error("bad\n  thing", { cause: new Error("bad thing") }), "bad thing"],
    ["a thrown string", "plain text", "plain text"],
    [
      "a time limit under a described error",
      new Error("end offsets: broker down", {
        cause: new DOMException("The operation was aborted", "AbortError"),
      }),
      "end offsets: broker down",
    ],
    ["nothing to say", new Error(""), "unknown error"],
  ])("%s", (_, error, expected) => {
    expect(describeFailure(error)).toBe(expected);
  });

  it("never shows a stack trace, and is cut at a few hundred characters", () => {
    const error = new Error("x".repeat(2_000));
    const text = describeFailure(error);
    expect(text.length).toBeLessThanOrEqual(400);
    expect(text).not.toContain("    at ");
  });

  it("masks credentials", () => {
    expect(describeFailure(new Error("cannot reach redis://:hunter2@10.0.0.1:6379/0"))).toBe(
      "cannot reach redis://***@10.0.0.1:6379/0",
    );
    expect(redactSecrets("rediss://user:p%40ss@h:1 and https://a@b/ ?password=abc&x=1 Bearer eyJ.x-y")).toBe(
      "rediss://***@h:1 and https://***@b/ ?password=***&x=1 Bearer ***",
    );
  });

  it.each(credentialQueryParameters)(
    "masks the signed-URL parameter %s wherever a library prints it",
    (name) => {
      const url = `GET https://bucket.example.com/m.onnx?X-Amz-Date=20261204&${name}=c2VjcmV0dmFsdWU&x=1 failed`;
      expect(redactSecrets(url)).toBe(
        `GET https://bucket.example.com/m.onnx?X-Amz-Date=20261204&${name}=***&x=1 failed`,
      );
      expect(redactSecrets(`${name.toUpperCase()}=c2VjcmV0dmFsdWU`)).toBe(`${name.toUpperCase()}=***`);
    },
  );

  it("masks keys ending in a credential word and leaves look-alikes alone", () => {
    expect(redactSecrets("db_password=hunter2, X-Goog-Signature=abc; access_token=t0k")).toBe(
      "db_password=***, X-Goog-Signature=***; access_token=***",
    );
    // Only whole key names: "design=" and "prefix_sig=" are not the Azure `sig` parameter.
    expect(redactSecrets("design=plain prefix_sig=kept tokens_used=12")).toBe(
      "design=plain prefix_sig=kept tokens_used=12",
    );
  });

  it("keeps the advice of a malformed store URL readable while hiding the URL", () => {
    // A store URL whose password has an unencoded '/' or space: the status says what a URL looks like.
    let refusal: unknown;
    try {
      assertStoreUrl("redis://jude:pa/ss word@redis.data.svc:6379");
    } catch (error) {
      refusal = error;
    }
    const text = describeFailure(refusal);
    expect(text).not.toContain("pa/ss");
    expect(text).not.toContain("***");
    expect(text).toMatch(/user:password@/);
    expect(text).toMatch(/redis:\/\/host\[:port\]\[\/db\]/);
  });
});

describe("reportReconcileError", () => {
  const key = { namespace: "recs", name: "jobs" };
  const failure = {
    error: new Error("redis://:pw@h:1 is unreachable"),
    sinceMs: Date.parse("2026-12-02T12:00:00Z"),
    failures: 7,
    persistent: true,
  };
  const pipeline = (status: Record<string, unknown>): KubeObject => ({
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name: "jobs", namespace: "recs", generation: 4 },
    status,
  });
  const condition = (type: string, status: string, reason: string) => ({
    type,
    status,
    reason,
    message: "",
    observedGeneration: 3,
    lastTransitionTime: "2026-12-01T00:00:00Z",
  });
  // A status, about `observedGeneration`, of Ready and Stalled as given, not Reconciling, for `reason`.
  const statusAt =
    ({ reason, ready, stalled }: { reason: string; ready: string; stalled: string }) =>
    (observedGeneration: number) => ({
      observedGeneration,
      conditions: [
        { ...condition("Ready", ready, reason), observedGeneration },
        { ...condition("Reconciling", "False", reason), observedGeneration },
        { ...condition("Stalled", stalled, reason), observedGeneration },
      ],
    });
  // An object whose status (for the pipeline's generation 4) is left as it is at a streak's first
  // failure: the same status about generation 3 shows the failure, and a persistent one is reported.
  const expectLeftAsIsAtFirstFailure = async (
    statusFor: (observedGeneration: number) => Record<string, unknown>,
    standing?: ReadonlySet<string>,
  ) => {
    const first = { ...failure, failures: 1, persistent: false };
    const { context, calls } = fakeContext(key, { NearlinePipeline: [pipeline(statusFor(4))] });
    await reportReconcileError(resourceTypes.nearlinePipeline, context, first, standing);
    expect(summarizeCalls(calls)).toEqual([]);
    const earlier = fakeContext(key, { NearlinePipeline: [pipeline(statusFor(3))] });
    await reportReconcileError(resourceTypes.nearlinePipeline, earlier.context, first, standing);
    expect(summarizeCalls(earlier.calls)).toEqual(["applyStatus NearlinePipeline/jobs"]);
    const persistent = fakeContext(key, { NearlinePipeline: [pipeline(statusFor(4))] });
    await reportReconcileError(resourceTypes.nearlinePipeline, persistent.context, failure, standing);
    expect(summarizeCalls(persistent.calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ReconcileError",
    ]);
  };

  it("turns Ready False and Stalled True for this generation, keeps the rest, records a Warning", async () => {
    const before = {
      observedGeneration: 3,
      lag: 12,
      conditions: [
        condition("Ready", "True", "WorkersReady"),
        condition("Reconciling", "False", "WorkersReady"),
        condition("Stalled", "False", "WorkersReady"),
        condition("BackedUp", "True", "SomeoneElse"),
      ],
    };
    const { context, calls } = fakeContext(key, { NearlinePipeline: [pipeline(before)] });
    await reportReconcileError(resourceTypes.nearlinePipeline, context, failure);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ReconcileError",
    ]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status as typeof before;
    expect(status.observedGeneration).toBe(4);
    expect(status.lag).toBe(12);
    const byType = Object.fromEntries(status.conditions.map((entry) => [entry.type, entry]));
    expect(byType.Ready).toMatchObject({ status: "False", reason: "ReconcileError", observedGeneration: 4 });
    expect(byType.Stalled).toMatchObject({ status: "True", reason: "ReconcileError" });
    expect(byType.Reconciling).toMatchObject({ status: "False", lastTransitionTime: "2026-12-01T00:00:00Z" });
    expect(byType.BackedUp).toEqual(before.conditions[3]);
    expect(byType.Ready!.message).toBe(
      "reconciling has failed on every try since 2026-12-02T12:00:00Z (retrying with back-off): redis://***@h:1 is unreachable",
    );
    expect((calls[1] as Extract<RecordedCall, { verb: "event" }>).message).toBe(
      "redis://***@h:1 is unreachable",
    );
  });

  // Was: nothing was written before the failure was persistent, so for up to a minute the status said
  // what the last successful reconcile wrote, as if nothing failed.
  it("shows the first failure at once as Reconciling (retrying), not Stalled, with no Event", async () => {
    const before = {
      observedGeneration: 3,
      lag: 12,
      conditions: [
        condition("Ready", "True", "WorkersReady"),
        condition("Reconciling", "False", "WorkersReady"),
        condition("Stalled", "False", "WorkersReady"),
      ],
    };
    const { context, calls } = fakeContext(key, { NearlinePipeline: [pipeline(before)] });
    await reportReconcileError(resourceTypes.nearlinePipeline, context, {
      ...failure,
      failures: 1,
      persistent: false,
    });
    expect(summarizeCalls(calls)).toEqual(["applyStatus NearlinePipeline/jobs"]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status as typeof before;
    expect(status.lag).toBe(12);
    const byType = Object.fromEntries(status.conditions.map((entry) => [entry.type, entry]));
    expect(byType.Ready).toMatchObject({ status: "False", reason: "ReconcileError" });
    expect(byType.Reconciling).toMatchObject({ status: "True", reason: "ReconcileError" });
    expect(byType.Stalled).toMatchObject({ status: "False", lastTransitionTime: "2026-12-01T00:00:00Z" });
    expect(byType.Ready!.message).toBe(
      "reconciling failed at 2026-12-02T12:00:00Z (retrying with back-off): redis://***@h:1 is unreachable",
    );
  });

  // Was: the first failure of a streak on an object Stalled for a cause the user must fix (a missing
  // Secret, a failed gate) wrote Stalled False / Reconciling True "retrying": Argo CD's Degraded turned
  // Progressing, the next successful reconcile announced the same Stalled cause again as a new Warning
  // Event and restarted its lastTransitionTime. A transient failure says nothing the Stalled does not.
  it("leaves an object Stalled for this generation as it is at a streak's first failure", async () => {
    // Stalled about an earlier generation is not what kstatus reads: the failure is shown.
    await expectLeftAsIsAtFirstFailure(
      statusAt({ reason: "SecretNotFound", ready: "False", stalled: "True" }),
    );
  });

  // Was: any isolated failure of a Ready object (a Redis blip, an etcd timeout, the store's "changed
  // owners twice, trying again") flipped Ready True -> False -> True: both transition times reset, two
  // status writes, the Normal "Ready" Event again at recovery, and Argo CD/Flux or `kubectl wait`
  // saw a healthy object go unhealthy for a retry. A Ready object shows a failure once it persists.
  it("leaves a Ready object as it is at a streak's first failure", async () => {
    // Ready about an earlier generation: the new generation is in progress, and its failure is shown.
    await expectLeftAsIsAtFirstFailure(statusAt({ reason: "Active", ready: "True", stalled: "False" }));
  });

  // Was: an EmbeddingModel in progress waiting for a missing Secret or topic (Ready False, reason
  // TopicNotFound, told once with a Warning Event) had it replaced by a transient failure's
  // ReconcileError, and the next successful reconcile told TopicNotFound again as a new Warning Event.
  it("leaves an object in progress for a standing reason it names as it is at a streak's first failure", async () => {
    const waiting = statusAt({ reason: "TopicNotFound", ready: "False", stalled: "False" });
    await expectLeftAsIsAtFirstFailure(waiting, new Set(["TopicNotFound"]));
    // Without it among the standing reasons, the failure is shown at once.
    const { context, calls } = fakeContext(key, { NearlinePipeline: [pipeline(waiting(4))] });
    await reportReconcileError(resourceTypes.nearlinePipeline, context, {
      ...failure,
      failures: 1,
      persistent: false,
    });
    expect(summarizeCalls(calls)).toEqual(["applyStatus NearlinePipeline/jobs"]);
  });

  it("writes nothing for an object that is gone or being deleted", async () => {
    const deleting = pipeline({});
    deleting.metadata!.deletionTimestamp = "2026-12-02T12:00:00Z";
    const worlds: Record<string, KubeObject[]>[] = [{}, { NearlinePipeline: [deleting] }];
    for (const objects of worlds) {
      const { context, calls } = fakeContext(key, objects);
      await reportReconcileError(resourceTypes.nearlinePipeline, context, failure);
      expect(calls).toEqual([]);
    }
  });

  it("is Stalled, so kstatus and Argo CD report it instead of waiting", () => {
    expect(reconcileErrorVerdict(failure)).toMatchObject({ state: "Stalled", reason: "ReconcileError" });
  });
});

/** The key of the NearlinePipeline recs/jobs the reportNotSynced tests report on. */
const notSyncedKey = { namespace: "recs", name: "jobs" };

/** The NearlinePipeline recs/jobs at `generation`, with `status` when given. */
const jobsPipeline = (generation: number, status?: Record<string, unknown>): KubeObject => ({
  apiVersion: "jude.dev/v1alpha1",
  kind: "NearlinePipeline",
  metadata: { name: "jobs", namespace: "recs", generation },
  ...(status === undefined ? {} : { status }),
});

/** A status, observed at generation 2, whose Stalled condition already says `cause` is not synced. */
const saidNotSynced = (cause: string): Record<string, unknown> => ({
  observedGeneration: 2,
  conditions: [
    {
      type: "Stalled",
      status: "True",
      reason: "ReconcileError",
      message: notSyncedVerdict(cause).message,
      observedGeneration: 2,
      lastTransitionTime: "2026-12-01T00:00:00Z",
    },
  ],
});

describe("reportNotSynced", () => {
  const cause =
    'cannot list deployments.apps in namespace recs, which the operator\'s RBAC does not allow (see the rules of the chart\'s templates/rbac.yaml): 403 Forbidden User "system:serviceaccount:ops:operator" cannot list resource "deployments"';

  it("turns the object Stalled with ReconcileError naming the list, keeps the rest, records a Warning", async () => {
    const { context, calls } = fakeContext(notSyncedKey, { NearlinePipeline: [jobsPipeline(2, { lag: 5 })] });
    await reportNotSynced(resourceTypes.nearlinePipeline, context, cause);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ReconcileError",
    ]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status as {
      lag: number;
      conditions: { type: string; status: string; reason: string; message: string }[];
    };
    expect(status.lag).toBe(5);
    const stalled = status.conditions.find((entry) => entry.type === "Stalled")!;
    expect(stalled).toMatchObject({ status: "True", reason: "ReconcileError" });
    expect(stalled.message).toBe(
      `not reconciled until the operator can list what it reads (retrying): ${cause}`,
    );
    expect((calls[1] as Extract<RecordedCall, { verb: "event" }>).message).toBe(stalled.message);
  });

  it("writes nothing when the object says so already, is gone or is being deleted", async () => {
    const said = jobsPipeline(2, saidNotSynced(cause));
    const deleting = jobsPipeline(2, {});
    deleting.metadata!.deletionTimestamp = "2026-12-02T12:00:00Z";
    const worlds: Record<string, KubeObject[]>[] = [
      { NearlinePipeline: [said] },
      {},
      { NearlinePipeline: [deleting] },
    ];
    for (const objects of worlds) {
      const { context, calls } = fakeContext(notSyncedKey, objects);
      await reportNotSynced(resourceTypes.nearlinePipeline, context, cause);
      expect(calls).toEqual([]);
    }
  });
});

describe("reportNotSynced after a restart", () => {
  it("writes again when the Stalled condition saying so is about an older generation", async () => {
    const cause = "cannot list deployments.apps in namespace recs: 403 Forbidden";
    const stale = jobsPipeline(3, saidNotSynced(cause));
    const { context, calls } = fakeContext(notSyncedKey, { NearlinePipeline: [stale] });
    await reportNotSynced(resourceTypes.nearlinePipeline, context, cause);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ReconcileError",
    ]);
    const status = (calls[0] as Extract<RecordedCall, { verb: "applyStatus" }>).status as {
      observedGeneration: number;
    };
    expect(status.observedGeneration).toBe(3);
  });
});

describe("reportNotSynced where the status may not be written", () => {
  it("still records the Warning Event, and says the write failed", async () => {
    const cause = "cannot list deployments.apps in namespace recs: 403 Forbidden";
    const { context, calls } = fakeContext(notSyncedKey, { NearlinePipeline: [jobsPipeline(1)] });
    const refused = new KubeApiError(403, "PATCH .../nearlinepipelines/jobs/status: 403 Forbidden");
    context.client.applyStatus = async () => {
      throw refused;
    };
    await expect(reportNotSynced(resourceTypes.nearlinePipeline, context, cause)).rejects.toBe(refused);
    expect(summarizeCalls(calls)).toEqual(["event Warning ReconcileError"]);
  });

  it("records no Event for a 401 (retried while the token is re-read), only fails", async () => {
    const cause = "cannot list deployments.apps in namespace recs: 403 Forbidden";
    const { context, calls } = fakeContext(notSyncedKey, { NearlinePipeline: [jobsPipeline(1)] });
    const unauthorized = new KubeApiError(401, "PATCH .../nearlinepipelines/jobs/status: 401 Unauthorized");
    context.client.applyStatus = async () => {
      throw unauthorized;
    };
    await expect(reportNotSynced(resourceTypes.nearlinePipeline, context, cause)).rejects.toBe(unauthorized);
    expect(summarizeCalls(calls)).toEqual([]);
  });
});

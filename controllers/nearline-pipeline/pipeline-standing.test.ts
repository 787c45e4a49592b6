import type { V1Deployment } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import { kstatusConditions, type Kstatus } from "../shared/conditions.ts";
import { resolveLiveVersions } from "./live-versions.ts";
import { pipelineStanding } from "./pipeline-standing.ts";
import { pipelineStallCause } from "./stall-causes.ts";
import { setPath, testModel, testPipeline } from "./test-objects.ts";
import type { WorkerWait } from "./worker-figures.ts";
import { deploymentRollout, drainingPods, type Rollout } from "./worker-rollout.ts";

const allSecrets = new Map([
  ["jude-redis", new Set(["url"])],
  ["profiles-kafka-ca", new Set(["ca.crt"])],
  ["jude-kafka-user", new Set(["username", "password"])],
]);

function sibling(name: string, store: string, created: string): NearlinePipeline {
  return testPipeline(undefined, (object) => {
    setPath(object, "metadata.name", name);
    setPath(object, "metadata.creationTimestamp", created);
    setPath(object, "spec.sinks.store.name", store);
  });
}

describe("pipelineStallCause", () => {
  const cases: {
    name: string;
    pipeline?: NearlinePipeline;
    model?: EmbeddingModel | undefined;
    siblings?: NearlinePipeline[];
    secrets?: Map<string, Set<string>>;
    storeEndpoints?: Map<string, string>;
    reason?: string;
    message?: RegExp;
  }[] = [
    { name: "consistent pipeline" },
    {
      name: "missing model",
      model: undefined,
      reason: "ModelNotFound",
      message: /^spec\.modelRef\.name: EmbeddingModel jude-minilm does not exist in namespace recs/,
    },
    {
      name: "entity without a prompt",
      pipeline: testPipeline(undefined, (object) => setPath(object, "spec.entity", "company")),
      reason: "PromptMissing",
      message:
        /^spec\.entity: EmbeddingModel jude-minilm has no prompt for entity company \(it has prompts for job, member-profile, resume\)/,
    },
    {
      name: "prompt field not extracted",
      pipeline: testPipeline(undefined, (object) => setPath(object, "spec.extract.seniority", undefined)),
      reason: "PromptFieldNotExtracted",
      message: /^spec\.extract: .* uses \{\{seniority\}\}, which spec\.extract does not define/,
    },
    {
      name: "an older pipeline of the model names another store",
      siblings: [sibling("resumes", "other-store", "2026-11-01T00:00:00Z")],
      reason: "StoreConflict",
      message:
        /^spec\.sinks\.store\.name: job-recs differs from other-store, the store of NearlinePipeline resumes/,
    },
    {
      name: "a newer pipeline of the model names another store (the newer one stalls, not this one)",
      siblings: [sibling("resumes", "other-store", "2026-12-02T00:00:00Z")],
    },
    {
      name: "an older pipeline of the model writes the same store name on another Redis",
      siblings: [sibling("resumes", "job-recs", "2026-11-01T00:00:00Z")],
      storeEndpoints: new Map([
        ["jobs", "redis://redis-a:6379/0"],
        ["resumes", "redis://redis-a:6379/1"],
      ]),
      reason: "StoreConflict",
      message:
        /^spec\.sinks\.store\.urlSecretRef: Secret jude-redis \(key url\) names Redis redis:\/\/redis-a:6379\/0, but NearlinePipeline resumes of the same EmbeddingModel jude-minilm writes store job-recs at redis:\/\/redis-a:6379\/1/,
    },
    {
      name: "an older pipeline of the model writes the same store name on another Redis Cluster",
      siblings: [sibling("resumes", "job-recs", "2026-11-01T00:00:00Z")],
      storeEndpoints: new Map([
        ["jobs", "redis-cluster://a-0:6379,a-1:6379"],
        ["resumes", "redis-cluster://b-0:6379,b-1:6379"],
      ]),
      reason: "StoreConflict",
      message:
        /^spec\.sinks\.store\.urlSecretRef: Secret jude-redis \(key url\) names Redis redis-cluster:\/\/a-0:6379,a-1:6379, but NearlinePipeline resumes .* at redis-cluster:\/\/b-0:6379,b-1:6379/,
    },
    {
      name: "an older pipeline of the model writes the same store on a Cluster named by other seeds of it",
      siblings: [sibling("resumes", "job-recs", "2026-11-01T00:00:00Z")],
      storeEndpoints: new Map([
        ["jobs", "redis-cluster://a-0:6379,a-1:6379"],
        ["resumes", "redis-cluster://a-1:6379,a-2:6379"],
      ]),
    },
    {
      name: "same store as the oldest pipeline, a stalled one between them naming another",
      siblings: [
        sibling("resumes", "job-recs", "2026-11-01T00:00:00Z"),
        sibling("profiles", "other-store", "2026-11-15T00:00:00Z"),
      ],
    },
    {
      name: "older pipeline with the same store",
      siblings: [sibling("resumes", "job-recs", "2026-11-01T00:00:00Z")],
    },
    {
      name: "missing store Secret",
      secrets: new Map(),
      reason: "SecretNotFound",
      message: /spec\.sinks\.store\.urlSecretRef names Secret jude-redis, which does not exist/,
    },
    {
      name: "missing key in a Secret",
      pipeline: testPipeline("nearline-pipeline-member-profiles.yaml"),
      secrets: new Map([...allSecrets, ["jude-kafka-user", new Set(["username"])]]),
      // As the EmbeddingModel says it: a script (and the Event on a turn from a missing Secret) tells them apart.
      reason: "SecretKeyNotFound",
      message:
        /spec\.source\.kafka\.sasl\.passwordSecretRef names key password of Secret jude-kafka-user, which has no such key/,
    },
    {
      name: "a serving TLS Secret without ca.crt (a certificate the system roots trust)",
      model: testModel((object) => setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" })),
      secrets: new Map([...allSecrets, ["jude-minilm-tls", new Set(["tls.crt", "tls.key"])]]),
    },
    {
      name: "missing serving TLS Secret of the model",
      model: testModel((object) => setPath(object, "spec.serving.tls", { secretName: "jude-minilm-tls" })),
      reason: "SecretNotFound",
      message:
        /^EmbeddingModel jude-minilm: spec\.serving\.tls\.secretName names Secret jude-minilm-tls, which does not exist/,
    },
    {
      name: "missing serving token Secret of the model",
      model: testModel((object) =>
        setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "jude-token", key: "token" } }),
      ),
      reason: "SecretNotFound",
      message: /^EmbeddingModel jude-minilm: spec\.serving\.auth\.tokenSecretRef names Secret jude-token/,
    },
  ];
  it.each(cases)("$name", (row) => {
    const cause = pipelineStallCause({
      pipeline: row.pipeline ?? testPipeline(),
      model: "model" in row ? row.model : testModel(),
      siblings: row.siblings ?? [],
      secrets: row.secrets ?? allSecrets,
      ...(row.storeEndpoints ? { storeEndpoints: row.storeEndpoints } : {}),
    });
    expect(cause?.reason).toBe(row.reason);
    if (row.message) expect(cause?.message).toMatch(row.message);
    if (cause) expect(cause.state).toBe("Stalled");
  });
});

function deployment(fields: {
  generation?: number;
  observed?: number;
  updated?: number;
  ready?: number;
  total?: number;
}): V1Deployment {
  return {
    metadata: { name: "jobs-minilm-v1-nearline", generation: fields.generation ?? 2 },
    spec: { replicas: 3, selector: {}, template: {} },
    status: {
      observedGeneration: fields.observed ?? 2,
      updatedReplicas: fields.updated ?? 3,
      readyReplicas: fields.ready ?? 3,
      replicas: fields.total ?? 3,
    },
  };
}

describe("deploymentRollout", () => {
  it.each([
    { name: "not created", deployment: undefined, done: false, message: /not created/ },
    {
      name: "spec not observed",
      deployment: deployment({ observed: 1 }),
      done: false,
      message: /not observed/,
    },
    {
      name: "updating",
      deployment: deployment({ updated: 1 }),
      done: false,
      message: /1 of 3 workers updated/,
    },
    {
      name: "not all ready",
      deployment: deployment({ ready: 2 }),
      done: false,
      message: /2 of 3 workers ready/,
    },
    {
      name: "old pods terminating",
      deployment: deployment({ total: 4 }),
      done: false,
      message: /old workers terminating/,
    },
    { name: "rolled out", deployment: deployment({}), done: true, message: /^$/ },
  ])("$name", ({ deployment, done, message }) => {
    const rollout = deploymentRollout(deployment);
    expect(rollout.done).toBe(done);
    expect(rollout.message).toMatch(message);
  });

  it("is not done while workers a scale-down or a roll removed still drain (the Deployment no longer counts them)", () => {
    // 3 -> 1: the Deployment's status counts only the one left, two removed pods still drain.
    const scaledDown = { ...deployment({}), spec: { replicas: 1, selector: {}, template: {} } };
    scaledDown.status = { observedGeneration: 2, updatedReplicas: 1, readyReplicas: 1, replicas: 1 };
    const rollout = deploymentRollout(scaledDown, undefined, undefined, undefined, undefined, 2);
    expect(rollout.done).toBe(false);
    expect(rollout.message).toBe("Deployment jobs-minilm-v1-nearline: 2 removed workers draining");
    expect(deploymentRollout(scaledDown, undefined, undefined, undefined, undefined, 1).message).toBe(
      "Deployment jobs-minilm-v1-nearline: 1 removed worker draining",
    );
    expect(deploymentRollout(scaledDown, undefined, undefined, undefined, undefined, 0).done).toBe(true);
  });

  it("counts as draining a removed worker within its grace period, not one past it (stuck on a lost node)", () => {
    const now = Date.parse("2026-01-01T00:00:30Z");
    const pod = (deletionTimestamp?: string) => ({
      metadata: { name: "w", ...(deletionTimestamp !== undefined ? { deletionTimestamp } : {}) },
    });
    expect(
      drainingPods(
        [pod(), pod("2026-01-01T00:00:45Z"), pod("2026-01-01T00:00:50Z"), pod("2026-01-01T00:00:10Z")],
        now,
      ),
    ).toBe(2);
  });

  const unschedulable = {
    pods: 2,
    firstPod: "jobs-minilm-v1-abc",
    message: "0/3 nodes are available: 3 Insufficient cpu.",
  };

  it("names the workers the scheduler cannot place while not rolled out", () => {
    const rollout = deploymentRollout(deployment({ ready: 1 }), unschedulable);
    expect(rollout).toMatchObject({ done: false, unschedulable });
    expect(rollout.message).toMatch(
      /1 of 3 workers ready; 2 pods cannot be scheduled \(jobs-minilm-v1-abc\): 0\/3 nodes are available: 3 Insufficient cpu\.$/,
    );
  });

  it("names the API server's refusal of worker pods (the Deployment's ReplicaFailure) while not rolled out", () => {
    const answer =
      'pods "jobs-minilm-v1-nearline-68c74cf47b-zng7r" is forbidden: failed quota: compute: must specify limits.cpu for: nearline';
    const refusing = deployment({ ready: 0, updated: 0 });
    refusing.status!.conditions = [
      { type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: answer },
    ];
    const rollout = deploymentRollout(refusing);
    expect(rollout).toMatchObject({ done: false, refused: { message: answer } });
    expect(rollout.message).toMatch(/0 of 3 workers updated; the API server refuses to create its pods/);
    expect(rollout.message).toContain(answer);
  });

  it("keeps the progress deadline's verdict on a rollout not done only", () => {
    const progress = { deployment: "x", deadlineSeconds: 600, timedOut: true };
    expect(
      deploymentRollout(deployment({ ready: 1 }), undefined, undefined, undefined, progress),
    ).toMatchObject({
      done: false,
      notProgressing: progress,
    });
    expect(deploymentRollout(deployment({}), undefined, undefined, undefined, progress)).toEqual({
      done: true,
      readyReplicas: 3,
      message: "",
    });
  });

  it("leaves a rolled-out Deployment done (a surge pod waiting for room is no outage)", () => {
    expect(deploymentRollout(deployment({}), unschedulable)).toEqual({
      done: true,
      readyReplicas: 3,
      message: "",
    });
  });
});

describe("pipelineStanding", () => {
  const resolved = resolveLiveVersions(testModel());
  const nothingLive: typeof resolved = { versions: [], waiting: [] };
  const done: Rollout = { done: true, readyReplicas: 3, message: "" };
  const rollingOut: Rollout = {
    done: false,
    readyReplicas: 1,
    message: "Deployment x: 1 of 3 workers ready",
  };
  const stall: Kstatus = { state: "Stalled", reason: "PromptMissing", message: "spec.entity: ..." };
  it.each([
    {
      name: "stall cause wins",
      cause: stall,
      versions: resolved,
      rollouts: [["minilm-v1", done]],
      state: "Stalled",
      reason: "PromptMissing",
    },
    {
      // Nothing but the model's spec supplies a digest: only setting spec.model.sha256 helps.
      name: "digest unknown",
      versions: resolveLiveVersions(testModel((object) => setPath(object, "spec.model.sha256", undefined))),
      rollouts: [],
      state: "Stalled",
      reason: "ModelDigestUnknown",
    },
    {
      name: "no version live yet (records, none with workers)",
      versions: nothingLive,
      rollouts: [],
      state: "Reconciling",
      reason: "WaitingForModel",
    },
    {
      name: "workers not created",
      versions: resolved,
      rollouts: [],
      state: "Reconciling",
      reason: "RollingOut",
    },
    {
      name: "workers rolling out",
      versions: resolved,
      rollouts: [["minilm-v1", rollingOut]],
      state: "Reconciling",
      reason: "RollingOut",
    },
    {
      name: "workers the scheduler cannot place",
      versions: resolved,
      rollouts: [
        [
          "minilm-v1",
          { ...rollingOut, unschedulable: { pods: 2, firstPod: "w-a", message: "0/3 nodes are available" } },
        ],
      ],
      state: "Reconciling",
      reason: "Unschedulable",
    },
    {
      name: "workers the API server refuses to create",
      versions: resolved,
      rollouts: [["minilm-v1", { ...rollingOut, refused: { message: 'pods "w-a" is forbidden: ...' } }]],
      state: "Reconciling",
      reason: "FailedCreate",
    },
    {
      name: "workers the kubelet cannot run",
      versions: resolved,
      rollouts: [
        [
          "minilm-v1",
          deploymentRollout(
            {
              metadata: { name: "x", generation: 1 },
              spec: { replicas: 2 },
              status: { observedGeneration: 1, updatedReplicas: 2, readyReplicas: 0, replicas: 2 },
            } as V1Deployment,
            undefined,
            {
              pods: 2,
              firstPod: "w-a",
              container: "container nearline",
              reason: "CreateContainerConfigError",
              message: "couldn't find key url in Secret ns/jude-redis",
            },
          ),
        ],
      ],
      state: "Stalled",
      reason: "PodFailing",
      message:
        "version minilm-v1: Deployment x: 0 of 2 workers ready; 2 pods cannot run (w-a, container nearline): CreateContainerConfigError: couldn't find key url in Secret ns/jude-redis",
    },
    {
      name: "workers not ready within their Deployment's progress deadline",
      versions: resolved,
      rollouts: [
        [
          "minilm-v1",
          {
            ...rollingOut,
            unschedulable: { pods: 1, firstPod: "w-a", message: "0/3 nodes are available" },
            message:
              "Deployment x: 1 of 3 workers ready; 1 pod cannot be scheduled (w-a): 0/3 nodes are available",
            notProgressing: {
              deployment: "x",
              deadlineSeconds: 600,
              timedOut: false,
              pod: { name: "w-a", since: "2026-12-04T11:45:00Z" },
            },
          },
        ],
      ],
      state: "Stalled",
      reason: "ProgressDeadlineExceeded",
      message:
        "version minilm-v1: the workers did not become ready within the progress deadline of Deployment x (600 s): Deployment x: 1 of 3 workers ready; 1 pod cannot be scheduled (w-a): 0/3 nodes are available; pod w-a not ready since 2026-12-04T11:45:00Z",
    },
    {
      // The kubelet's reason says more than the deadline.
      name: "workers the kubelet cannot run, past their progress deadline",
      versions: resolved,
      rollouts: [
        [
          "minilm-v1",
          {
            ...rollingOut,
            failing: {
              pods: 1,
              firstPod: "w-a",
              container: "container nearline",
              reason: "ImagePullBackOff",
              message: "",
            },
            notProgressing: { deployment: "x", deadlineSeconds: 600, timedOut: true },
          },
        ],
      ],
      state: "Stalled",
      reason: "PodFailing",
    },
    {
      name: "every version rolled out",
      versions: resolved,
      rollouts: [["minilm-v1", done]],
      state: "Ready",
      reason: "WorkersReady",
    },
    {
      // A store restart: the worker rides it out, the pipeline stays Ready.
      name: "a worker waited briefly on its store",
      versions: resolved,
      rollouts: [["minilm-v1", done]],
      waits: [["minilm-v1", [{ dependency: "store", seconds: 20, error: "Command timed out" }]]],
      state: "Ready",
      reason: "WorkersReady",
    },
    {
      name: "a worker's batch has waited a minute on its store",
      versions: resolved,
      rollouts: [["minilm-v1", done]],
      waits: [
        [
          "minilm-v1",
          [{ dependency: "store", seconds: 95, error: "Command timed out" }, undefined, undefined],
        ],
      ],
      state: "Stalled",
      reason: "DependencyUnavailable",
      message:
        "version minilm-v1: 1 of 3 workers have waited 95 s on the store (Command timed out); nothing is lost, and they go on once it answers",
    },
    {
      // Said of a worker with no batch in hand too (its start waiting, calls to a hung broker).
      name: "a worker has waited a minute on Kafka at its start",
      versions: resolved,
      rollouts: [["minilm-v1", done]],
      waits: [
        [
          "minilm-v1",
          [
            {
              dependency: "kafka",
              seconds: 75,
              error: "no answer from kafka for 75 s (its connections open)",
            },
            undefined,
            undefined,
          ],
        ],
      ],
      state: "Stalled",
      reason: "DependencyUnavailable",
      message:
        "version minilm-v1: 1 of 3 workers have waited 75 s on the Kafka (no answer from kafka for 75 s (its connections open)); nothing is lost, and they go on once it answers",
    },
  ] as const)(
    "$name",
    ({
      cause,
      versions,
      rollouts,
      waits = [],
      state,
      reason,
      message,
    }: {
      cause?: Kstatus;
      versions: typeof resolved;
      rollouts: readonly (readonly [string, Rollout])[];
      waits?: readonly (readonly [string, readonly (WorkerWait | undefined)[]])[];
      state: string;
      reason: string;
      message?: string;
    }) => {
      const standing = pipelineStanding(cause, versions, new Map(rollouts), new Map(waits));
      expect(standing).toMatchObject({ state, reason, ...(message !== undefined ? { message } : {}) });
      const conditions = kstatusConditions(standing);
      expect(
        conditions.filter((condition) => condition.status === "True").map((condition) => condition.type),
      ).toEqual([state]);
    },
  );
});

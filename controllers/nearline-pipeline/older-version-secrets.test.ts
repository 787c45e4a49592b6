// During a promotion (and the bake after it) a pipeline runs workers for an older version too, rendered
// from that version's record: its serving TLS Secret's ca.crt and its token Secret, which may be other
// Secrets than today's spec names. One of them missing leaves that version's running workers working,
// but a worker that stops cannot start again (a missing Secret volume holds it in ContainerCreating):
// said in the pipeline's conditions and one Warning Event, the new version's workers untouched.
import { describe, expect, it } from "vitest";
import type { NearlinePipelineStatus } from "../../crds/index.ts";
import { olderVersionEvents } from "../embedding-model/older-version-references.ts";
import type { LiveVersion } from "./live-versions.ts";
import {
  olderVersionSecretNames,
  olderVersionSecretProblems,
  withOlderVersionSecretProblems,
} from "./older-version-secrets.ts";
import { setPath, testModel } from "./test-objects.ts";

const model = testModel();
const live = (version: string, serving: LiveVersion["serving"]): LiveVersion => ({
  version,
  modelDigest: `sha256:${"c".repeat(64)}`,
  dimensions: 384,
  prompts: {},
  endpoint: `${version}:50051`,
  serving,
});
const batching = model.spec.serving.batching;
const older = live("old-v0", {
  batching,
  tls: { secretName: "tls-v0" },
  auth: { tokenSecretRef: { name: "token-v0", key: "token" } },
} as LiveVersion["serving"]);
const current = live(model.spec.version, {
  batching,
  tls: { secretName: "tls-v9" },
  auth: { tokenSecretRef: { name: "token-v9", key: "token" } },
} as LiveVersion["serving"]);
const all = new Map([
  ["tls-v0", new Set(["tls.crt", "tls.key", "ca.crt"])],
  ["token-v0", new Set(["token"])],
]);
// The spec naming the Secrets its version's record names, as it does unless VersionRedefined.
const naming = testModel((object) => {
  setPath(object, "spec.serving.tls", { secretName: "tls-v9" });
  setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "token-v9", key: "token" } });
});
const tokenGone =
  "version old-v0's workers mount Secret token-v0 (spec.serving.auth.tokenSecretRef in the version's record), which does not exist: its running workers keep working, but a worker that stops cannot start again until the Secret is restored";

describe("olderVersionSecretProblems", () => {
  it("nothing when the older version's Secrets exist", () => {
    expect(olderVersionSecretProblems(naming, [older, current], all)).toEqual([]);
  });

  it("a missing token Secret of the older version's record: names version, Secret, field and consequence", () => {
    const secrets = new Map([...all].filter(([name]) => name !== "token-v0"));
    expect(olderVersionSecretProblems(naming, [older, current], secrets)).toEqual([
      { version: "old-v0", reason: "SecretNotFound", message: tokenGone },
    ]);
  });

  it("a missing TLS Secret; its ca.crt alone missing is no problem (the workers then trust the system roots)", () => {
    expect(olderVersionSecretProblems(model, [older], new Map([["token-v0", new Set(["token"])]]))).toEqual([
      {
        version: "old-v0",
        reason: "SecretNotFound",
        message:
          "version old-v0's workers mount Secret tls-v0 (spec.serving.tls.secretName in the version's record), which does not exist: its running workers keep working, but a worker that stops cannot start again until the Secret is restored",
      },
    ]);
    const withoutCa = new Map([...all, ["tls-v0", new Set(["tls.crt", "tls.key"])]]);
    expect(olderVersionSecretProblems(model, [older], withoutCa)).toEqual([]);
  });

  it("a token Secret without the record's key", () => {
    const secrets = new Map([...all, ["token-v0", new Set(["other"])]]);
    expect(olderVersionSecretProblems(model, [older], secrets)).toEqual([
      {
        version: "old-v0",
        reason: "SecretKeyNotFound",
        message:
          "version old-v0's workers read Secret token-v0 (spec.serving.auth.tokenSecretRef in the version's record), which has no key token: its running workers keep working, but a worker that stops cannot start again until the key is restored",
      },
    ]);
  });

  it("the spec's version's Secrets the spec names are not looked at here (they stall the pipeline: stall-causes.ts)", () => {
    expect(olderVersionSecretProblems(naming, [current], new Map())).toEqual([]);
  });

  it("the spec's version served from a record naming other Secrets (VersionRedefined): those are said", () => {
    const renamed = testModel((object) => {
      setPath(object, "spec.serving.tls", { secretName: "tls-v9" });
      setPath(object, "spec.serving.auth", { tokenSecretRef: { name: "token-v10", key: "token" } });
    });
    expect(olderVersionSecretProblems(renamed, [current], new Map())).toEqual([
      {
        version: model.spec.version,
        reason: "SecretNotFound",
        message: `version ${model.spec.version}'s workers mount Secret token-v9 (spec.serving.auth.tokenSecretRef in the version's record), which does not exist: its running workers keep working, but a worker that stops cannot start again until the Secret is restored`,
      },
    ]);
    expect(olderVersionSecretNames(renamed, [current])).toEqual(["token-v9"]);
  });

  it("the Secret names to read: the older versions' TLS and token Secrets", () => {
    expect(olderVersionSecretNames(naming, [older, current]).sort()).toEqual(["tls-v0", "token-v0"]);
  });
});

describe("the verdict and the Event", () => {
  const problems = olderVersionSecretProblems(model, [older], new Map([["tls-v0", new Set(["ca.crt"])]]));

  it("said after the verdict's message, its state and reason unchanged; none, the verdict as it was", () => {
    const verdict = {
      state: "Ready" as const,
      reason: "WorkersReady",
      message: "workers of every live version run",
    };
    expect(withOlderVersionSecretProblems(verdict, problems)).toEqual({
      ...verdict,
      message: `workers of every live version run; ${tokenGone}`,
    });
    expect(withOlderVersionSecretProblems(verdict, [])).toBe(verdict);
  });

  it("one Warning Event while the previous Ready condition does not say it yet", () => {
    expect(olderVersionEvents(undefined, problems)).toEqual([
      { warning: true, reason: "SecretNotFound", message: tokenGone },
    ]);
    const said: NearlinePipelineStatus = {
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "WorkersReady",
          message: `workers of every live version run; ${tokenGone}`,
          lastTransitionTime: "2026-12-05T00:00:00Z",
        },
      ],
    };
    expect(olderVersionEvents(said, problems)).toEqual([]);
  });
});

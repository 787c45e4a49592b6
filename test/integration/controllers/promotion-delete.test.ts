// An EmbeddingModel deleted while its candidate bootstraps, then applied again under its name (a
// GitOps re-sync): the garbage collector removes every child, the store keeps the pointer, the
// candidate's partial vectors and the owner (README, "No finalizers"), and the model created again
// takes the store back, collects the partial build it has no record of, bootstraps the candidate with
// a new run and promotes it. The model's pipeline deleted mid-promotion, or at rest before a new
// version or a rollback, holds the version until the pipeline is back (readers use the store).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import { getVersion, readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json, waitUntilAtRest } from "../operator/operator-harness.ts";
import { promotionIds as ids, promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  conditionOf,
  embeddingModelEvents,
  finishBootstrap,
  deleteOrphaning,
  orphaned,
  type PromotionOperator,
  reportCaughtUp,
  writeVectors,
  type PromotionSetup,
  setUpPromotion,
} from "./harness.ts";

describe("an EmbeddingModel or its pipeline deleted, and applied again", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator;
  let store: Store;
  let jobsPipeline: Json;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };

  const model = () => getObject("embeddingmodel/jobs-model", namespace) as Promise<Json | undefined>;
  const status = async () =>
    ((await model())?.status ?? {}) as Json & { activeVersion?: string; versions?: Json[] };
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-del", () => passing);
    ({ namespace, store, operator } = setup);
    jobsPipeline = setup.jobsPipeline;
  });

  afterAll(() => setup?.stop());

  it("leaves the store as documented, then takes it back and promotes the candidate", async () => {
    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");

    await applyObjects(namespace, [modelAt("v2")]);
    await until(
      "v2's run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    const firstRun = (await getObject("bootstraprun/jobs-v2-promotion", namespace))!;
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids.slice(0, 5));

    await kubectl(["delete", "-n", namespace, "embeddingmodel/jobs-model", "--wait=true", "--timeout=60s"]);
    await until("the garbage collector removed every child", async () =>
      (
        await Promise.all([
          getObject("deployment/jobs-model-v1", namespace),
          getObject("deployment/jobs-model-v2", namespace),
          getObject("service/jobs-model", namespace),
          getObject("configmap/jobs-model-v1-record", namespace),
          getObject("configmap/jobs-model-v2-record", namespace),
          getObject("bootstraprun/jobs-v2-promotion", namespace),
        ])
      ).every((object) => object === undefined),
    );
    // README: the pointer, the candidate's partial vectors (building) and the owner stay.
    expect((await readPointer(store)).current).toBe("v1");
    expect((await getVersion(store, "v2"))?.state).toBe("building");
    expect(await store.client.hget(store.keys.owner, "name")).toBe("jobs-model");

    await applyObjects(namespace, [modelAt("v2")]);
    await until("a new v2 run", async () => {
      const run = await getObject("bootstraprun/jobs-v2-promotion", namespace);
      return run !== undefined && (run.metadata as Json).uid !== (firstRun.metadata as Json).uid;
    });
    // Readers and the query Service stay on v1, which no record says how to serve: the status says so
    // rather than showing it served (an endpoint, "version v1 keeps serving").
    await until("Ready to say v1 is not served", async () =>
      /^version v1, the one readers use \(the store's pointer\), has no record in this EmbeddingModel .*: it is not served /.test(
        conditionOf((await model())!, "Ready")?.message ?? "",
      ),
    );
    expect(conditionOf((await model())!, "Ready")?.message).not.toContain("keeps serving");
    // Nor listed as an Active version with no pods, or announced as one ("version v1: new -> Active")
    // to the model applied again (the deleted one's Events, of another uid, told v1's phases then).
    expect((await status()).versions?.map((entry) => entry.version)).toEqual(["v2"]);
    const again = `,involvedObject.uid=${String(((await model())!.metadata as Json).uid)}`;
    expect(
      (await embeddingModelEvents(namespace, again)).filter((event) =>
        String(event.message).startsWith("version v1:"),
      ),
    ).toEqual([]);
    // Said before the approval: once v2 is promoted, this model has no rollback to v1.
    expect(conditionOf((await model())!, "Ready")?.message).toContain(
      "once v2 is promoted this model cannot roll back to v1 (no record)",
    );
    // The old build's partial vectors (other prompts, for all the new model knows) were collected
    // before the new run was made: a build over them would keep them ("newer wins").
    expect(await getVersion(store, "v2")).toBeNull();
    expect(conditionOf((await model())!, "Stalled")?.reason).not.toBe("StoreConflict");
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids);
    await finishBootstrap(store, namespace, "jobs-v2-promotion", "v2");
    await reportCaughtUp(namespace, "jobs", ["v2"]);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
  });

  // The model's only pipeline deleted while the candidate bootstraps (to be applied again, or pruned):
  // the model has no store to measure then, and must not promote the candidate like a serving-only
  // model, which moved the query Service to v3's encoder while the pointer kept readers on v2's vectors.
  it("holds the candidate while its pipeline is deleted, and goes on once it is applied again", async () => {
    await applyObjects(namespace, [modelAt("v3")]);
    await until(
      "v3's run",
      async () => (await getObject("bootstraprun/jobs-v3-promotion", namespace)) !== undefined,
    );
    await kubectl(["delete", "-n", namespace, "nearlinepipeline/jobs", "--wait=true"]);
    await until("the promotion waits for a pipeline", async () =>
      [conditionOf((await model())!, "BootstrapComplete")?.reason].includes("NoPipelines"),
    );
    expect((await status()).activeVersion).toBe("v2");
    expect(await querySelector()).toBe("v2");
    expect((await readPointer(store)).current).toBe("v2");
    expect(conditionOf((await model())!, "Ready")?.status).toBe("False");

    await applyObjects(namespace, [jobsPipeline]);
    await until("v3 bootstrapping again", async () =>
      [conditionOf((await model())!, "BootstrapComplete")?.reason].includes("Bootstrapping"),
    );
    expect(await querySelector()).toBe("v2");
    await buildVersion(store, namespace, "v3", ["v2", "v3"]);
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    expect((await readPointer(store)).current).toBe("v3");
    expect(await querySelector()).toBe("v3");
  });

  // At rest (README: "the current version is served again without a bootstrap").
  it("serves the active version again without a bootstrap when the model is deleted and applied again", async () => {
    await kubectl(["delete", "-n", namespace, "embeddingmodel/jobs-model", "--wait=true", "--timeout=60s"]);
    await until("the garbage collector removed the children", async () =>
      (
        await Promise.all([
          getObject("deployment/jobs-model-v3", namespace),
          getObject("configmap/jobs-model-v3-record", namespace),
          getObject("bootstraprun/jobs-v3-promotion", namespace),
        ])
      ).every((object) => object === undefined),
    );
    await applyObjects(namespace, [modelAt("v3")]);
    await until("v3 active and Ready", async () => {
      const again = await model();
      return (
        (again?.status as Json | undefined)?.activeVersion === "v3" &&
        conditionOf(again!, "Ready")?.status === "True"
      );
    });
    expect(await querySelector()).toBe("v3");
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v2" });
    expect(await getObject("bootstraprun/jobs-v3-promotion", namespace)).toBeUndefined();
    const record = await getObject("configmap/jobs-model-v3-record", namespace);
    expect((record?.data as Json | undefined)?.workers).toBe("true");
    // Nothing of the deletions left a reconcile failing (a retry loop on missing children or records).
    // One failed attempt retried at once is how a controller meets a child the garbage collector
    // removes under it (seen once in a loaded CI run); a loop fails on every try, dozens of times
    // before its back-off grows past the quiet period below, and its model would not settle.
    await waitUntilAtRest(operator.registry, "embedding-model", 6_000);
    const errors = /jude_operator_reconcile_errors_total\{controller="embedding-model"\} (\d+)/.exec(
      await operator.registry.metrics(),
    );
    expect(Number(errors?.[1] ?? 0)).toBeLessThanOrEqual(2);
  });

  // The pipeline deleted while the model is at rest, then a new version applied: nothing names the
  // store any more, but readers use v3's vectors in it. Promoted like a serving-only model, v4 moved
  // the query Service to v4's encoder while the pointer kept readers on v3's vectors.
  it("holds a new version applied after the pipeline was deleted at rest, until it is applied again", async () => {
    await kubectl(["delete", "-n", namespace, "nearlinepipeline/jobs", "--wait=true"]);
    await waitUntilAtRest(operator.registry, "embedding-model", 3_000);
    expect(await querySelector()).toBe("v3");

    // A short progress deadline: the wait turns Stalled, saying what to do.
    await applyObjects(namespace, [modelAt("v4", { progressDeadlineSeconds: 5 })]);
    // v4's serving ready first: only then would it have been promoted.
    await until("v4 serving and the promotion waiting for a pipeline", async () => {
      const waiting = (await model())!;
      return (
        conditionOf(waiting, "ServingReady")?.status === "True" &&
        /version v4/.test(conditionOf(waiting, "ServingReady")?.message ?? "") &&
        conditionOf(waiting, "BootstrapComplete")?.reason === "NoPipelines"
      );
    });
    await waitUntilAtRest(operator.registry, "embedding-model", 3_000);
    expect(await querySelector()).toBe("v3");
    expect((await status()).activeVersion).toBe("v3");
    expect((await readPointer(store)).current).toBe("v3");
    expect(conditionOf((await model())!, "Promoted")?.status).toBe("False");
    expect(conditionOf((await model())!, "BootstrapComplete")?.message).toMatch(
      new RegExp(
        `readers use version v3's vectors in store "${setup!.storeName}".*apply a NearlinePipeline of this model writing to store "${setup!.storeName}" again`,
      ),
    );
    await until("Stalled past the deadline", async () => {
      const stalled = conditionOf((await model())!, "Stalled");
      return stalled?.status === "True" && stalled.reason === "PromotionDeadlineExceeded";
    });
    expect(conditionOf((await model())!, "Stalled")?.message).toMatch(
      /apply a NearlinePipeline of this model writing to store .* again, or set spec.version back to v3/,
    );
    expect(await querySelector()).toBe("v3");

    await applyObjects(namespace, [jobsPipeline]);
    await until(
      "v4's run",
      async () => (await getObject("bootstraprun/jobs-v4-promotion", namespace)) !== undefined,
    );
    expect(await querySelector()).toBe("v3");
    await buildVersion(store, namespace, "v4", ["v3", "v4"]);
    await until("v4 active", async () => (await status()).activeVersion === "v4");
    expect((await readPointer(store)).current).toBe("v4");
    expect(await querySelector()).toBe("v4");
  });

  // A rollback is a pointer flip: with no pipeline naming the store it switched the query Service alone
  // (v3's encoder over v4's vectors).
  it("rolls back only once the pipeline deleted at rest is applied again", async () => {
    await kubectl(["delete", "-n", namespace, "nearlinepipeline/jobs", "--wait=true"]);
    await waitUntilAtRest(operator.registry, "embedding-model", 3_000);
    await applyObjects(namespace, [modelAt("v3")]);
    await until("the rollback waits for a pipeline", async () => {
      const gate = conditionOf((await model())!, "BootstrapComplete");
      return gate?.reason === "NoPipelines" && gate.status === "False";
    });
    await waitUntilAtRest(operator.registry, "embedding-model", 3_000);
    expect(await querySelector()).toBe("v4");
    expect((await status()).activeVersion).toBe("v4");
    expect((await readPointer(store)).current).toBe("v4");

    await applyObjects(namespace, [jobsPipeline]);
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v4" });
    expect(await querySelector()).toBe("v3");
  });

  // README: to serve such a model without a store from then on, delete it and apply it again.
  it("serves without a store once the model is deleted and applied again without its pipeline", async () => {
    await kubectl(["delete", "-n", namespace, "nearlinepipeline/jobs", "--wait=true"]);
    await kubectl(["delete", "-n", namespace, "embeddingmodel/jobs-model", "--wait=true", "--timeout=60s"]);
    await until(
      "the records removed",
      async () => (await getObject("configmap/jobs-model-v3-record", namespace)) === undefined,
    );
    await applyObjects(namespace, [modelAt("v3")]);
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    await applyObjects(namespace, [modelAt("v5")]);
    await until("v5 active", async () => (await status()).activeVersion === "v5");
    expect(await querySelector()).toBe("v5");
    expect(conditionOf((await model())!, "BootstrapComplete")).toMatchObject({
      status: "True",
      reason: "NoPipelines",
    });
  });
});

// `kubectl delete --cascade=orphan` mid-promotion: the garbage collector removes the owner references
// and leaves every child running, the query Service included, whose selector still picks v1's pods.
// Applied again, the model adopts its orphaned records and, applying them, its workloads: v1 is served
// from its own record again (not "not served" while the orphaned pods answer) and stays a rollback
// target once v2 is promoted.
describe("an EmbeddingModel deleted with --cascade=orphan mid-promotion, and applied again", () => {
  let setup: PromotionSetup | undefined;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };
  afterAll(() => setup?.stop());

  it("adopts its orphaned records and workloads: v1 served and Active, then Draining after v2", async () => {
    setup = await setUpPromotion("promotion-orphan", () => passing);
    const { namespace, store } = setup;
    const model = () => getObject("embeddingmodel/jobs-model", namespace) as Promise<Json | undefined>;
    const status = async () =>
      ((await model())?.status ?? {}) as Json & { activeVersion?: string; versions?: Json[] };
    const ownerUid = async (name: string) =>
      (
        ((await getObject(name, namespace))?.metadata as Json | undefined)?.ownerReferences as
          Json[] | undefined
      )?.[0]?.uid;
    const until = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { timeoutMs: 90_000, intervalMs: 250 });

    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    await applyObjects(namespace, [modelAt("v2")]);
    await until(
      "v2's run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );

    await deleteOrphaning(namespace, "embeddingmodel/jobs-model");
    // What is true meanwhile: v1's Deployment and the query Service are left, unowned, the Service
    // still selecting v1's pods (they answer queries with no EmbeddingModel).
    await until("the children orphaned", async () => await orphaned("deployment/jobs-model-v1", namespace));
    expect(await orphaned("service/jobs-model", namespace)).toBe(true);
    expect(((await getObject("service/jobs-model", namespace))?.spec as Json).selector).toMatchObject({
      "jude.dev/version": "v1",
    });

    await applyObjects(namespace, [modelAt("v2")]);
    await until("the model applied again", async () => (await model()) !== undefined);
    const uid = ((await model())!.metadata as Json).uid;
    await until(
      "v1's record and Deployment adopted, and v2's run",
      async () =>
        (await ownerUid("configmap/jobs-model-v1-record")) === uid &&
        (await ownerUid("deployment/jobs-model-v1")) === uid &&
        (await ownerUid("bootstraprun/jobs-v2-promotion")) === uid,
    );
    await until("v1 listed Active and served", async () => {
      const v1 = (await status()).versions?.find((entry) => entry.version === "v1");
      return v1?.phase === "Active" && v1.endpoint !== undefined;
    });
    expect(conditionOf((await model())!, "Ready")?.message ?? "").not.toContain("has no record");

    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids);
    await finishBootstrap(store, namespace, "jobs-v2-promotion", "v2");
    await reportCaughtUp(namespace, "jobs", ["v1", "v2"]);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    expect((await status()).versions?.find((entry) => entry.version === "v1")?.phase).toBe("Draining");
    // Applied again, the model found readers on v1: no Event says they switched to it then (one said
    // "from no version to v1 (store pointer flip made by an operator stopped before it reported it …)").
    const promoted = async () =>
      (await embeddingModelEvents(namespace, ",reason=Promoted")).map((event) => event.message as string);
    await until("v2's Promoted Event", async () =>
      (await promoted()).some((message) => message.includes("from v1 to v2")),
    );
    expect((await promoted()).filter((message) => message.includes("to v1"))).toEqual([
      "readers switched from no version to v1 (store pointer flip, query Service moved)",
    ]);
  });
});

// The same orphan delete mid-promotion of v2, applied again at v3 (a Git revision that moved on): v2 is
// superseded. Its orphaned record, run and Deployment are adopted as this model's and removed with
// the version (left, its run's shards would go on writing v2's vectors and its GPU pods would keep
// running); v3 bootstraps and is promoted over v1, which stays a rollback target.
describe("an EmbeddingModel deleted with --cascade=orphan mid-promotion, and applied again at a newer version", () => {
  let setup: PromotionSetup | undefined;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };
  afterAll(() => setup?.stop());

  it("removes the superseded v2's orphaned record, run and Deployment, and promotes v3 over v1", async () => {
    setup = await setUpPromotion("promotion-orphan-v3", () => passing);
    const { namespace, store } = setup;
    const model = () => getObject("embeddingmodel/jobs-model", namespace) as Promise<Json | undefined>;
    const status = async () =>
      ((await model())?.status ?? {}) as Json & { activeVersion?: string; versions?: Json[] };
    const ownerUid = async (name: string) =>
      (
        ((await getObject(name, namespace))?.metadata as Json | undefined)?.ownerReferences as
          Json[] | undefined
      )?.[0]?.uid;
    const until = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { timeoutMs: 90_000, intervalMs: 250 });

    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    await applyObjects(namespace, [modelAt("v2")]);
    await until(
      "v2's run and Deployment",
      async () =>
        (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined &&
        (await getObject("deployment/jobs-model-v2", namespace)) !== undefined,
    );
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids.slice(0, 5));

    await deleteOrphaning(namespace, "embeddingmodel/jobs-model");
    await until(
      "the children orphaned",
      async () =>
        (await orphaned("deployment/jobs-model-v2", namespace)) &&
        (await orphaned("bootstraprun/jobs-v2-promotion", namespace)) &&
        (await orphaned("configmap/jobs-model-v2-record", namespace)),
    );

    await applyObjects(namespace, [modelAt("v3")]);
    await until("the model applied again", async () => (await model()) !== undefined);
    const uid = ((await model())!.metadata as Json).uid;
    await until(
      "v1's record adopted and v3's run made",
      async () =>
        (await ownerUid("configmap/jobs-model-v1-record")) === uid &&
        (await getObject("bootstraprun/jobs-v3-promotion", namespace)) !== undefined,
    );
    await until("v2's orphaned record, run and Deployment removed", async () =>
      (
        await Promise.all([
          getObject("configmap/jobs-model-v2-record", namespace),
          getObject("bootstraprun/jobs-v2-promotion", namespace),
          getObject("deployment/jobs-model-v2", namespace),
        ])
      ).every((object) => object === undefined),
    );
    // v2's partial build is collected: nothing of the superseded version stays in the store.
    await until("v2's vectors collected", async () => (await getVersion(store, "v2")) === null);
    expect((await status()).versions?.map((entry) => entry.version).sort()).toEqual(["v1", "v3"]);
    expect((await readPointer(store)).current).toBe("v1");

    await buildVersion(store, namespace, "v3", ["v1", "v3"]);
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v1" });
    expect((await status()).versions?.find((entry) => entry.version === "v1")?.phase).toBe("Draining");
  });
});

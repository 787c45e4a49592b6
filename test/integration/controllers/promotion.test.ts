// The promotion state machine wired to the testbed's API server and Redis: the EmbeddingModel
// controller serves a new version beside the active one, creates (or adopts) its BootstrapRun, opens
// the gates from real store counters, flips the real store pointer and moves the query Service in the
// same reconcile, rolls back at once to a draining version, removes a superseded version's objects,
// waits for approval with cutover Manual, stalls a version whose parity fails while the active one
// serves, and resumes after a restart. Bootstrap shards and worker lag are played by the test (pods
// only pretend to run on kwok nodes); the end-to-end test runs them for real.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import { readPointer, type Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionIds as ids, promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  conditionOf,
  finishBootstrap,
  type PromotionOperator,
  reportCaughtUp,
  startPromotionOperator,
  writeVectors,
  type PromotionSetup,
  setUpPromotion,
} from "./harness.ts";

describe("promotion on the API server", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let operator: PromotionOperator;
  let store: Store;
  const parity = new Map<string, ParityObservation>();
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };

  const model = () => getObject("embeddingmodel/jobs-model", namespace) as Promise<Json>;
  const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
  const phaseOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version)?.phase;
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  beforeAll(async () => {
    setup = await setUpPromotion("promotion-jobs", (version) => parity.get(version) ?? passing);
    ({ namespace, store, operator } = setup);
  });

  afterAll(async () => {
    await operator?.stop(); // the one the test started after stopping the first
    await setup?.stop();
  });

  it("promotes the first version once its bootstrap, lag, coverage and parity gates pass", async () => {
    const jobsPipeline = structuredClone(setup!.jobsPipeline);
    ((jobsPipeline.spec as Json).workers as Json).resources = {
      requests: { cpu: "250m", memory: "256Mi" },
      limits: { memory: "512Mi" },
    };
    await applyObjects(namespace, [jobsPipeline]);
    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's BootstrapRun",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
    );
    const run = (await getObject("bootstraprun/jobs-v1-promotion", namespace))!;
    expect((run.metadata as Json).ownerReferences).toMatchObject([
      { kind: "EmbeddingModel", name: "jobs-model", controller: true },
    ]);
    // Its shards get the pipeline's worker resources (the API server took them: the run exists).
    expect((run.spec as Json).resources).toEqual({
      requests: { cpu: "250m", memory: "256Mi" },
      limits: { memory: "512Mi" },
    });
    expect(await phaseOf("v1")).toBe("Bootstrapping");
    expect((await readPointer(store)).current).toBeNull();
    await buildVersion(store, namespace, "v1", ["v1"]);
    await until("v1 active", async () => (await status()).activeVersion === "v1");
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
    expect(conditionOf(await model(), "Promoted")?.status).toBe("True");
    const record = await getObject("configmap/jobs-model-v1-record", namespace);
    expect((record?.data as Json).workers).toBe("true");
  });

  it("serves v2 beside v1, keeps readers on v1 until coverage passes, then flips data and Service together", async () => {
    await applyObjects(namespace, [modelAt("v2")]);
    await until(
      "v2's BootstrapRun",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    expect(await getObject("deployment/jobs-model-v1", namespace)).toBeDefined();
    expect(await getObject("deployment/jobs-model-v2", namespace)).toBeDefined();
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids.slice(0, 5));
    await finishBootstrap(store, namespace, "jobs-v2-promotion", "v2");
    await reportCaughtUp(namespace, "jobs", ["v1", "v2"]);
    await until("coverage measured", async () =>
      (conditionOf(await model(), "CoverageMet")?.message ?? "").includes("5/10 records"),
    );
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
    expect((await status()).activeVersion).toBe("v1");
    // `kubectl get em` mid-promotion: VERSION v2 desired, ACTIVE v1, READY False (v2 not active yet).
    const row = () => kubectl(["get", "em", "jobs-model", "-n", namespace, "--no-headers"]);
    expect(await row()).toMatch(/^jobs-model\s+v2\s+v1\s+False\s+\d+s\s*$/);
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, ids);
    await until("v2 active", async () => (await status()).activeVersion === "v2");
    await until("READY True once v2 is active and serving", async () =>
      /^jobs-model\s+v2\s+v2\s+True\s/.test(await row()),
    );
    expect((await readPointer(store)).current).toBe("v2");
    expect(await querySelector()).toBe("v2");
    expect(await phaseOf("v1")).toBe("Draining");
    expect(await getObject("deployment/jobs-model-v1", namespace)).toBeDefined();
    const metrics = await operator.registry.metrics();
    expect(metrics).toMatch(/jude_promotion_cutover_seconds_count\{[^}]*kind="flip"\} [1-9]/);
  });

  it("rolls back to the draining v1 at once: pointer and query Service", async () => {
    await applyObjects(namespace, [modelAt("v1")]);
    await until("pointer back on v1", async () => (await readPointer(store)).current === "v1", 30_000);
    await until("query Service on v1", async () => (await querySelector()) === "v1", 30_000);
    await until("RolledBack", async () => conditionOf(await model(), "RolledBack")?.status === "True");
    expect((await status()).activeVersion).toBe("v1");
  });

  it("a new version mid-promotion supersedes the one in flight without orphans", async () => {
    await applyObjects(namespace, [modelAt("v3")]);
    await until(
      "v3's BootstrapRun",
      async () => (await getObject("bootstraprun/jobs-v3-promotion", namespace)) !== undefined,
    );
    await writeVectors(store, "v3", `sha256:${hex("v3")}`, ids.slice(0, 3));
    await applyObjects(namespace, [modelAt("v4")]);
    await until("v3's objects removed", async () =>
      (
        await Promise.all([
          getObject("deployment/jobs-model-v3", namespace),
          getObject("configmap/jobs-model-v3-record", namespace),
          getObject("bootstraprun/jobs-v3-promotion", namespace),
        ])
      ).every((object) => object === undefined),
    );
    await until(
      "v3's partial vectors collected",
      async () => (await store.client.hget(store.keys.versions, "v3")) === null,
    );
    expect((await readPointer(store)).current).toBe("v1");
  });

  it("stays Stalled while v1 serves when the candidate's parity fails", async () => {
    parity.set("v4", {
      sampled: 4,
      matched: 0,
      minCosine: 0.42,
      firstMismatch: "job:j1: cosine 0.42000 < 0.999",
    });
    await buildVersion(store, namespace, "v4", ["v1", "v4"]);
    await until(
      "Stalled on parity",
      async () => conditionOf(await model(), "Stalled")?.reason === "ParityFailed",
    );
    expect(conditionOf(await model(), "ParityPassed")?.message).toContain(
      "0/4 sampled vectors matched, min cosine 0.42000",
    );
    expect((await readPointer(store)).current).toBe("v1");
    expect(await querySelector()).toBe("v1");
    // The reconcile records its promotion metrics after it wrote the status the wait above read.
    await expect
      .poll(() => operator.registry.metrics(), { timeout: 30_000 })
      .toContain('jude_promotion_stalled{namespace="' + namespace + '",model="jobs-model",version="v4"} 1');
  });

  it("with cutover Manual waits in AwaitingCutover across an operator restart, then flips once approved", async () => {
    await applyObjects(namespace, [modelAt("v5", { cutover: "Manual" })]);
    await until(
      "v5's BootstrapRun",
      async () => (await getObject("bootstraprun/jobs-v5-promotion", namespace)) !== undefined,
    );
    await operator.stop();
    await buildVersion(store, namespace, "v5", ["v1", "v5"]);
    operator = startPromotionOperator(namespace, (version) => parity.get(version) ?? passing);
    await until("AwaitingCutover", async () => (await phaseOf("v5")) === "AwaitingCutover");
    expect((await readPointer(store)).current).toBe("v1");
    await applyObjects(namespace, [modelAt("v5", { cutover: "Manual", approvedVersion: "v5" })]);
    await until("v5 active", async () => (await status()).activeVersion === "v5");
    expect((await readPointer(store)).current).toBe("v5");
    expect(await querySelector()).toBe("v5");
    const reasons = (
      await kubectl(["get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"])
    ).split(" ");
    expect(reasons).toEqual(
      expect.arrayContaining(["Promoted", "RolledBack", "AwaitingCutover", "ParityFailed"]),
    );
  });
});

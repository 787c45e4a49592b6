// A promotion whose operator is killed (its API connection cut and dropped: nothing unsent arrives,
// no graceful end) while the candidate bootstraps, and whose spec changes while no operator runs, on
// the testbed's real API server and Redis: v1 -> v2, killed, v3 applied, restarted: v2 leaves nothing
// (objects, run, its shards' checkpoint, its partial vectors) and v3 is promoted; a candidate killed
// and reverted to the active version while down is abandoned with the active version untouched; a
// candidate whose run failed, or whose run outlives progressDeadlineSeconds, is Stalled with a
// message naming why while the active version keeps the pointer and the query Service, across a
// restart; killed right after its flip with a newer version applied while down, the flipped version
// is taken as live (Service, status, its vectors kept) and the newer one promoted over it.
// Bootstrap shards and worker lag are played by the test, as in promotion.test.ts.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { checkpointKey } from "../../../pipelines/bootstrap/checkpoint-store.ts";
import { flip, getVersion, readPointer, type Store } from "../../../store/index.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { apiServerAddress, kubeconfigThrough, startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, testImages, type Json } from "../operator/operator-harness.ts";
import { promotionIds as ids, promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  conditionOf,
  finishBootstrap,
  promoteThroughBootstrap,
  reportCaughtUp,
  setUpPromotion,
  startManager,
  writeVectors,
  type PromotionSetup,
} from "./harness.ts";

const passing = { sampled: 4, matched: 4, minCosine: 0.99999 };

describe("a promotion whose operator is killed, and whose spec changes while it is down", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;
  let operator: { link: TcpLink; stop: () => Promise<void> } | undefined;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
  const status = async () => (await model()).status as Json & { activeVersion?: string; versions?: Json[] };
  const phaseOf = async (version: string) =>
    (await status()).versions?.find((entry) => entry.version === version)?.phase;
  const querySelector = async () =>
    (
      ((await getObject("service/jobs-model", namespace))?.spec as Json | undefined)?.selector as
        Json | undefined
    )?.["jude.dev/version"];
  const run = (version: string) => getObject(`bootstraprun/jobs-${version}-promotion`, namespace);
  const uid = (object: Json | undefined) => (object?.metadata as Json | undefined)?.uid as string | undefined;
  const checkpoint = (version: string) =>
    checkpointKey(store.layout.prefix, { namespace, name: `jobs-${version}-promotion` }, 0);
  const objectsOf = (version: string) =>
    Promise.all([
      getObject(`deployment/jobs-model-${version}`, namespace),
      getObject(`service/jobs-model-${version}`, namespace),
      getObject(`configmap/jobs-model-${version}-record`, namespace),
      run(version),
    ]);
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  /** The EmbeddingModel controller behind a TCP link to the API server, so a kill drops what it had not sent. */
  async function startOperator(): Promise<void> {
    const link = await startTcpLink(apiServerAddress(requireEnv("KUBECONFIG")));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigThrough(requireEnv("KUBECONFIG"), link.port));
    const stop = startManager(
      namespace,
      "promotion-downtime",
      (manager) =>
        manager.add(
          embeddingModelController({
            images: testImages,
            concurrency: 2,
            registry: manager.metrics.registry,
            measureParity: async () => passing,
          }),
        ),
      { kubeConfig },
    );
    operator = { link, stop };
  }

  /** Kills the operator: its connection frozen (nothing unsent delivered), then dropped. */
  async function killOperator(): Promise<void> {
    const { link, stop } = operator!;
    operator = undefined;
    link.freeze();
    const stopped = stop();
    await link.close();
    await stopped;
  }

  /** `version` applied, its run created, some partial vectors and a finished shard's checkpoint written. */
  async function startBuilding(version: string, promotion: Json = {}) {
    await applyObjects(namespace, [modelAt(version, promotion)]);
    await until(`${version}'s run`, async () => (await run(version)) !== undefined);
    await writeVectors(store, version, `sha256:${hex(version)}`, ids.slice(0, 4));
    await store.client.hset(checkpoint(version), { phase: "done", attempt: "1" });
  }

  beforeAll(async () => {
    setup = await setUpPromotion("promofault-downtime", () => passing);
    ({ namespace, store } = setup);
    await setup.operator.stop(); // replaced by one behind a link, which the tests kill
    await startOperator();
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
    await until("Service on v1", async () => (await querySelector()) === "v1");
  }, 180_000);

  afterAll(async () => {
    if (operator !== undefined) {
      await operator.stop();
      await operator.link.close();
    }
    await setup?.stop();
  });

  it("v1 -> v2, killed while v2 bootstraps, v3 applied while down: v2 leaves nothing, v3 is promoted", async () => {
    const before = await readPointer(store);
    await startBuilding("v2");
    await killOperator();
    await applyObjects(namespace, [modelAt("v3")]);
    await startOperator();
    await until("v2's objects removed", async () => (await objectsOf("v2")).every((o) => o === undefined));
    await until("v2's partial vectors collected", async () => (await getVersion(store, "v2")) === null);
    expect(await store.client.exists(checkpoint("v2")), "the superseded run's checkpoint").toBe(0);
    await until("v3's run", async () => (await run("v3")) !== undefined);
    expect(await readPointer(store)).toMatchObject({ current: "v1", epoch: before.epoch });
    expect(await querySelector()).toBe("v1");
    expect((await status()).activeVersion).toBe("v1");
    await buildVersion(store, namespace, "v3", ["v1", "v3"]);
    await until("v3 active", async () => (await status()).activeVersion === "v3");
    expect(await readPointer(store)).toMatchObject({ current: "v3", backup: "v1", epoch: before.epoch + 1 });
    await until("Service on v3", async () => (await querySelector()) === "v3");
  });

  it("killed while v4 bootstraps, spec set back to v3 while down: v4 is abandoned, v3 untouched", async () => {
    const before = await readPointer(store);
    const v3Deployment = await getObject("deployment/jobs-model-v3", namespace);
    await startBuilding("v4");
    await killOperator();
    await applyObjects(namespace, [modelAt("v3")]);
    await startOperator();
    await until("v4's objects removed", async () => (await objectsOf("v4")).every((o) => o === undefined));
    await until("v4's partial vectors collected", async () => (await getVersion(store, "v4")) === null);
    expect(await store.client.exists(checkpoint("v4")), "the abandoned run's checkpoint").toBe(0);
    await until("Ready on v3", async () => conditionOf(await model(), "Ready")?.status === "True");
    expect(await readPointer(store)).toEqual(before);
    expect(await querySelector()).toBe("v3");
    expect((await status()).activeVersion).toBe("v3");
    const after = await getObject("deployment/jobs-model-v3", namespace);
    expect((after?.metadata as Json).generation).toBe((v3Deployment?.metadata as Json).generation);
  });

  it("a candidate whose run failed is Stalled with the run's message, across a restart, and goes on with a new run", async () => {
    const before = await readPointer(store);
    await applyObjects(namespace, [modelAt("v5")]);
    await until("v5's run", async () => (await run("v5")) !== undefined);
    const failedUid = uid(await run("v5"));
    await kubectl([
      "patch",
      "-n",
      namespace,
      "bootstraprun/jobs-v5-promotion",
      "--subresource=status",
      "--type=merge",
      "-p",
      // What the BootstrapRun controller writes when its Job failed.
      JSON.stringify({
        status: {
          phase: "Failed",
          conditions: [
            {
              type: "Failed",
              status: "True",
              reason: "BackoffLimitExceeded",
              message: "shard 0 failed 4 times: promofault",
              lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
            },
          ],
        },
      }),
    ]);
    await until(
      "Stalled on the run",
      async () => conditionOf(await model(), "Stalled")?.reason === "BootstrapFailed",
    );
    expect(conditionOf(await model(), "Stalled")?.message).toContain("shard 0 failed 4 times: promofault");
    expect(await phaseOf("v5")).toBe("Failed");
    await killOperator();
    await startOperator();
    // Restarted, it says the same and makes no second run over the failed one.
    await until("Stalled after the restart", async () => {
      const stalled = conditionOf(await model(), "Stalled");
      return stalled?.status === "True" && stalled.reason === "BootstrapFailed";
    });
    expect(uid(await run("v5"))).toBe(failedUid);
    expect(await readPointer(store)).toEqual(before);
    expect(await querySelector()).toBe("v3");
    expect((await status()).activeVersion).toBe("v3");
    // The user deletes the failed run: a new one is made, and v5 is promoted once it succeeds.
    await kubectl(["delete", "-n", namespace, "bootstraprun/jobs-v5-promotion", "--wait=true"]);
    await until("a new v5 run", async () => {
      const next = uid(await run("v5"));
      return next !== undefined && next !== failedUid;
    });
    await writeVectors(store, "v5", `sha256:${hex("v5")}`, ids);
    await finishBootstrap(store, namespace, "jobs-v5-promotion", "v5");
    await reportCaughtUp(namespace, "jobs", ["v3", "v5"]);
    await until("v5 active", async () => (await status()).activeVersion === "v5");
    expect(await readPointer(store)).toMatchObject({ current: "v5", backup: "v3", epoch: before.epoch + 1 });
  });

  it("a candidate whose run outlives progressDeadlineSeconds is Stalled while the active version serves", async () => {
    const before = await readPointer(store);
    await applyObjects(namespace, [modelAt("v6", { progressDeadlineSeconds: 2 })]);
    await until("v6's run", async () => (await run("v6")) !== undefined);
    await kubectl([
      "patch",
      "-n",
      namespace,
      "bootstraprun/jobs-v6-promotion",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Running", progress: { total: 10, processed: 4, percent: 40 } } }),
    ]);
    await until(
      "Stalled past the deadline",
      async () => conditionOf(await model(), "Stalled")?.reason === "PromotionDeadlineExceeded",
      60_000,
    );
    const stalled = conditionOf(await model(), "Stalled")!;
    expect(stalled.message).toContain("v6");
    expect(stalled.message).toContain("40%");
    expect(await readPointer(store)).toEqual(before);
    expect(await querySelector()).toBe("v5");
    expect((await status()).activeVersion).toBe("v5");
    await killOperator();
    await startOperator();
    await until(
      "still Stalled after the restart",
      async () => conditionOf(await model(), "Stalled")?.reason === "PromotionDeadlineExceeded",
    );
    expect(await readPointer(store)).toEqual(before);
  });

  it("killed right after the flip (made by hand while down), v8 applied while down: v7 went live, v8 is promoted", async () => {
    await applyObjects(namespace, [modelAt("v7", { cutover: "Manual" })]);
    await until("v7's run", async () => (await run("v7")) !== undefined);
    await buildVersion(store, namespace, "v7", ["v5", "v7"]);
    await until("v7 AwaitingCutover", async () => (await phaseOf("v7")) === "AwaitingCutover");
    const before = await readPointer(store);
    expect(before.current).toBe("v5");
    await killOperator();
    // What the approval's reconcile did before it was killed: the flip, nothing after it.
    await flip(store, { expectedCurrent: "v5", target: "v7" });
    await applyObjects(namespace, [modelAt("v8")]);
    await startOperator();
    await until("v7 active", async () => (await status()).activeVersion === "v7");
    await until("Service on v7", async () => (await querySelector()) === "v7");
    await until("v8's run", async () => (await run("v8")) !== undefined);
    expect(await readPointer(store)).toMatchObject({ current: "v7", backup: "v5", epoch: before.epoch + 1 });
    expect((await getVersion(store, "v7"))?.state).toBe("complete");
    expect(await phaseOf("v5")).toBe("Draining");
    await buildVersion(store, namespace, "v8", ["v5", "v7", "v8"]);
    await until("v8 active", async () => (await status()).activeVersion === "v8");
    expect(await readPointer(store)).toMatchObject({ current: "v8", backup: "v7", epoch: before.epoch + 2 });
  });
});

// The EmbeddingModel deleted at rest (its version records go with it) and applied again (a GitOps
// re-sync, or another model taking the store over) naming the store's current (or backup) version with another
// model file: the store's registry says which model built that version's vectors, and a spec whose
// model is not it must not be served as that version (query vectors of one model, data of another).
describe("a model applied again naming the store's current or backup version with another model file", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json | undefined;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });

  beforeAll(async () => {
    setup = await setUpPromotion("promofault-redefined", () => passing);
    ({ namespace, store } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("is refused (VersionRedefined) and serves nothing as that version", async () => {
    const before = await readPointer(store);
    await kubectl(["delete", "-n", namespace, "embeddingmodel/jobs-model", "--wait=true", "--timeout=60s"]);
    await until("v1's record and Deployment removed", async () =>
      (
        await Promise.all([
          getObject("configmap/jobs-model-v1-record", namespace),
          getObject("deployment/jobs-model-v1", namespace),
        ])
      ).every((object) => object === undefined),
    );
    const other = modelAt("v1") as Json & { spec: Json & { model: Json } };
    other.spec.model = { ...other.spec.model, uri: "file:///opt/models/v9/model.onnx", sha256: hex("v9") };
    await applyObjects(namespace, [other]);
    await until("the model's verdict", async () => conditionOf((await model())!, "Ready") !== undefined);
    const stalled = conditionOf((await model())!, "Stalled");
    expect(stalled?.reason).toBe("VersionRedefined");
    expect(stalled?.message).toContain(`sha256:${hex("v1")}`);
    expect(conditionOf((await model())!, "Ready")?.status).toBe("False");
    expect((await model())?.status).not.toHaveProperty("activeVersion", "v1");
    expect(await getObject("deployment/jobs-model-v1", namespace)).toBeUndefined();
    expect(await readPointer(store)).toEqual(before);
    expect((await getVersion(store, "v1"))?.state).toBe("complete");
    // Under a new version name it is built and promoted like any candidate.
    const renamed = modelAt("v2") as Json & { spec: Json & { model: Json } };
    renamed.spec.model = { ...other.spec.model };
    await applyObjects(namespace, [renamed]);
    await until(
      "v2's run",
      async () => (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    await writeVectors(store, "v2", `sha256:${hex("v9")}`, ids);
    await finishBootstrap(store, namespace, "jobs-v2-promotion", "v2");
    await reportCaughtUp(namespace, "jobs", ["v2"]);
    await until("v2 active", async () => ((await model())?.status as Json).activeVersion === "v2");
    const promoted = await readPointer(store);
    expect(promoted).toMatchObject({ current: "v2", backup: "v1", epoch: before.epoch + 1 });
    // v1 again with this model file: the pointer's backup, which the old file built, is refused too
    // (a build over it would keep the old file's vectors), and v2 keeps the readers.
    await applyObjects(namespace, [other]);
    await until(
      "v1 refused",
      async () => conditionOf((await model())!, "Stalled")?.reason === "VersionRedefined",
    );
    expect(conditionOf((await model())!, "Stalled")?.message).toContain("the backup");
    expect(await readPointer(store)).toEqual(promoted);
    expect(await getObject("bootstraprun/jobs-v1-promotion", namespace)).toBeUndefined();
    expect(((await model())?.status as Json).activeVersion).toBe("v2");
    expect(
      (((await getObject("service/jobs-model", namespace))?.spec as Json).selector as Json)[
        "jude.dev/version"
      ],
    ).toBe("v2");
  });
});

// A BootstrapRun made by hand for a candidate that is superseded before it went live: the promotion
// deletes only the runs it made, so the user's run and its Job are left as they are (the run Stalled,
// reason VersionSuperseded, saying to delete it), and the candidate's partial vectors are collected
// only once the run's shard pods have ended (here: once the user suspends the run; deleting it ends
// them too). With the EmbeddingModel and BootstrapRun controllers in-process on the testbed (real API
// server, Kafka, Redis); the shard pods ask for more CPU than any node has, so they stay Pending: not
// ended, as shards still writing are.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import type { Store } from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, testImages, type Json } from "../operator/operator-harness.ts";
import { bootstrapRun, promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import {
  applyObjects,
  conditionOf,
  setUpPromotion,
  startManager,
  writeVectors,
  type PromotionSetup,
} from "./harness.ts";

describe("a hand-made BootstrapRun of a candidate superseded before it went live", () => {
  let setup: PromotionSetup | undefined;
  let stopRuns: (() => Promise<void>) | undefined;
  let namespace: string;
  let store: Store;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const v1State = async () => {
    const info = await store.client.hget(store.keys.versions, "v1");
    return info === null ? undefined : (JSON.parse(info) as { state: string }).state;
  };
  const shardPhases = () =>
    kubectl([
      "get",
      "pods",
      "-n",
      namespace,
      "-l",
      "jude.dev/bootstrap-run=mine-v1",
      "-o",
      "jsonpath={.items[*].status.phase}",
    ]);

  beforeAll(async () => {
    setup = await setUpPromotion("superseded-user-run", () => ({ sampled: 4, matched: 4, minCosine: 1 }));
    ({ namespace, store } = setup);
    stopRuns = startManager(namespace, "runs-test", (manager) =>
      manager.add(bootstrapRunController({ images: testImages, concurrency: 2 })),
    );
  });

  afterAll(async () => {
    await stopRuns?.();
    await setup?.stop();
  });

  it("is left running, and v1's partial vectors are collected once its shard pods have ended", async () => {
    await applyObjects(namespace, [modelAt("v1")]);
    const mine = bootstrapRun("mine-v1", "jobs", 1, "v1");
    (mine.spec as Json).resources = { requests: { cpu: "1000", memory: "1Gi" } };
    await applyObjects(namespace, [mine]);
    await until("the run's shard pod", async () => (await shardPhases()) === "Pending");
    await writeVectors(store, "v1", `sha256:${hex("v1")}`, ["j1", "j2"]);

    await applyObjects(namespace, [modelAt("v2")]);
    await until(
      "v1 superseded: its objects removed, v2's run made",
      async () =>
        (
          await Promise.all([
            getObject("deployment/jobs-model-v1", namespace),
            getObject("configmap/jobs-model-v1-record", namespace),
          ])
        ).every((object) => object === undefined) &&
        (await getObject("bootstraprun/jobs-v2-promotion", namespace)) !== undefined,
    );
    // The run says so (it polls every 10 s; the model's change wakes it too), and is not deleted.
    const stalled = async () => {
      const run = await getObject("bootstraprun/mine-v1", namespace);
      return run === undefined ? undefined : conditionOf(run, "Stalled");
    };
    await until("the run Stalled, reason VersionSuperseded", async () => {
      return (await stalled())?.reason === "VersionSuperseded";
    });
    expect((await stalled())?.message).toContain(
      "EmbeddingModel jobs-model no longer records version v1 (its spec.version is v2",
    );
    const run = (await getObject("bootstraprun/mine-v1", namespace)) as
      { status?: { phase?: string } } | undefined;
    expect(run?.status?.phase).toBe("Running");
    expect(await getObject("job/mine-v1-bootstrap", namespace), "its Job").toBeDefined();
    expect(await shardPhases(), "its shard pod").toBe("Pending");
    expect(await v1State(), "collection waits for the shard pod").toBe("building");

    // Suspended, the run's Job deletes its shard pods (deleting the run would too): nothing holds v1.
    await kubectl([
      "patch",
      "-n",
      namespace,
      "bootstraprun/mine-v1",
      "--type=merge",
      "-p",
      '{"spec":{"suspend":true}}',
    ]);
    await until("v1's partial vectors collected", async () => (await v1State()) === undefined);
    expect(await getObject("bootstraprun/mine-v1", namespace), "the run is still not deleted").toBeDefined();
  });
});

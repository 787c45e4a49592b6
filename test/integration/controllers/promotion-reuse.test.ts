// A version name reused on the testbed's API server and Redis: v1 -> v2 -> v3 -> v2 with other prompts,
// while the superseded first build of v2 (whose record is gone) still sits in the store because its
// writers are still stopping. The new v2 must not be built over the first build's vectors (same
// positions, so "newer wins" keeps the old ones, and readers would get two prompts' vectors for one
// version): the operator collects the first build, then bootstraps v2 anew. And v1, draining after
// v2's cutover, named again with another model file: Stalled (VersionRedefined), while v1 stays served
// with its own model through the bake, so a rollback to it is still one flip. Bootstrap shards and
// worker lag are played by the test, as in promotion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bucketKeys,
  bucketOf,
  getVersion,
  readPointer,
  recordField,
  StoreWriter,
  type Store,
} from "../../../store/index.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionIds as ids, promotionModelAt as modelAt, versionDigest as hex } from "./objects.ts";
import {
  applyObjects,
  buildVersion,
  conditionOf,
  writeVectors,
  type PromotionSetup,
  setUpPromotion,
  promoteThroughBootstrap,
} from "./harness.ts";

describe("a version name reused after its build was superseded", () => {
  let setup: PromotionSetup | undefined;
  let namespace: string;
  let store: Store;

  const model = async () => (await getObject("embeddingmodel/jobs-model", namespace))!;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) =>
    waitFor(what, check, { timeoutMs, intervalMs: 250 });
  const v2Run = () => getObject("bootstraprun/jobs-v2-promotion", namespace);
  /** The content hash stored with `id`'s vector in `version` (its metadata's last field). */
  const storedHash = async (version: string, id: string) => {
    const field = recordField("job", id);
    const meta = await store.client.hget(
      bucketKeys(store.layout, version, bucketOf(store.layout, field)).meta,
      field,
    );
    return meta?.split("|")[4];
  };
  /** v2 with other prompts than its first build. */
  const v2Again = () => {
    const object = modelAt("v2");
    ((object.spec as Json).prompts as Json).job = "Role: {{title}}";
    return object;
  };
  /** A Deployment labelled as the jobs pipeline's v2 workers: they are still stopping. */
  const stoppingWorkers = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "jobs-v2-stopping",
      labels: {
        "app.kubernetes.io/name": "jude",
        "app.kubernetes.io/component": "nearline",
        "app.kubernetes.io/managed-by": "jude-operator",
        "jude.dev/model": "jobs-model",
        "jude.dev/pipeline": "jobs",
        "jude.dev/version": "v2",
      },
    },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: "jobs-v2-stopping" } },
      template: {
        metadata: { labels: { app: "jobs-v2-stopping" } },
        spec: { containers: [{ name: "worker", image: "jude" }] },
      },
    },
  };

  beforeAll(async () => {
    setup = await setUpPromotion("promotion-reuse", () => ({ sampled: 4, matched: 4, minCosine: 0.99999 }));
    ({ namespace, store } = setup);
    await promoteThroughBootstrap(setup, "v1", ["v1"]);
  }, 180_000);

  afterAll(() => setup?.stop());

  it("v1 -> v2 -> v3 -> v2 with other prompts: the first build of v2 is collected before v2 is built again", async () => {
    await applyObjects(namespace, [modelAt("v2")]);
    await until("v2's run", async () => (await v2Run()) !== undefined);
    // The first build's shards wrote some vectors (prompt "Job: {{title}}").
    await writeVectors(store, "v2", `sha256:${hex("v2")}`, []);
    await new StoreWriter(store).write(
      ids.slice(0, 4).map((id, index) => ({
        kind: "upsert" as const,
        entity: "job",
        id,
        version: "v2",
        eventTimeMs: 1_000 + index,
        offset: index,
        partition: 0,
        vector: [0.5, 0.5, 0.5, 0.5],
        modelDigest: `sha256:${hex("v2")}`,
        contentHash: `first-build-${id}`,
      })),
    );
    await applyObjects(namespace, [stoppingWorkers]);
    await applyObjects(namespace, [modelAt("v3")]);
    await until("v2's record and run removed", async () => {
      const [record, run] = await Promise.all([
        getObject("configmap/jobs-model-v2-record", namespace),
        v2Run(),
      ]);
      return record === undefined && run === undefined;
    });
    expect((await getVersion(store, "v2"))?.state).toBe("building");

    // v2 again, with other prompts: the old partial vectors are not v2's any more.
    await applyObjects(namespace, [v2Again()]);
    await until("v2 decided", async () => {
      const m = await model();
      return (m.status as Json).observedGeneration === (m.metadata as Json).generation;
    });
    await until("v2 waits for its first build's collection", async () => {
      const gate = conditionOf(await model(), "BootstrapComplete");
      return gate?.reason === "WaitingForCollection" || (await v2Run()) !== undefined;
    });
    expect(await v2Run(), "a run of v2 over its first build's vectors").toBeUndefined();

    await kubectl(["delete", "deployment", "jobs-v2-stopping", "-n", namespace]);
    await until("the first build collected", async () => (await getVersion(store, "v2")) === null, 60_000);
    await until("v2's new run", async () => (await v2Run()) !== undefined);
    await buildVersion(store, namespace, "v2", ["v1", "v2"]);
    await until("v2 active", async () => ((await model()).status as Json).activeVersion === "v2");
    expect(await readPointer(store)).toMatchObject({ current: "v2", backup: "v1" });
    for (const id of ids) expect(await storedHash("v2", id), id).toBe(`h-${id}`);
  });

  it("v1 (draining) named again with another model file: Stalled, v1 keeps its model and stays served", async () => {
    const template = async () =>
      JSON.stringify(
        ((await getObject("deployment/jobs-model-v1", namespace))?.spec as Json | undefined)?.template,
      );
    const before = await template();
    expect(before).toContain(hex("v1"));
    const v1Other = modelAt("v1");
    ((v1Other.spec as Json).model as Json).sha256 = hex("v9");
    await applyObjects(namespace, [v1Other]);
    await until(
      "VersionRedefined",
      async () => conditionOf(await model(), "Stalled")?.reason === "VersionRedefined",
    );
    const status = (await model()).status as Json & { versions: Json[] };
    expect(status.versions.find((entry) => entry.version === "v1")?.phase).toBe("Draining");
    // Nothing of v1 changed: its serving pods (its draining workers embed through them) and record.
    expect(await template()).toBe(before);
    const record = await getObject("configmap/jobs-model-v1-record", namespace);
    expect((record?.data as Json)["spec.json"]).toContain(hex("v1"));
    expect((await readPointer(store)).current).toBe("v2");

    // The model cannot change under one version name (the API refuses it): back to v2, then v1.
    await applyObjects(namespace, [v2Again()]);
    await until("v2 settled", async () => conditionOf(await model(), "Ready")?.status === "True");
    await applyObjects(namespace, [modelAt("v1")]);
    await until("rolled back to v1", async () => (await readPointer(store)).current === "v1", 30_000);
  });
});

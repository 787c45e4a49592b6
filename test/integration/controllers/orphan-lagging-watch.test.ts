// `kubectl delete --cascade=orphan` of an EmbeddingModel while the operator's watch of models lags its
// watches of the children (they are separate streams; one behind a busy connection or API server is
// seconds late). The garbage collector removes the model's owner reference from each child, which
// wakes the model's reconcile from a cache that still shows the model alive. That reconcile used to
// apply the child again with the reference, and once the model was gone the collector deleted the
// child as the dependent of a missing owner: the Deployment and query Service the user meant to keep
// (a fresh-clone CI run saw it under load). The operator now reads the owner live before adopting a
// child (OwnerDeleted), as Kubernetes' own controllers do.
import { afterAll, describe, expect, it } from "vitest";
import type { ParityObservation } from "../../../controllers/embedding-model/promotion-gates.ts";
import { requireEnv } from "../../support/env.ts";
import { startApiFaultProxy, type ApiFaultProxy } from "../../support/api-fault-proxy.ts";
import { waitFor } from "../../testbed/wait.ts";
import { getObject, type Json } from "../operator/operator-harness.ts";
import { promotionModelAt as modelAt } from "./objects.ts";
import { applyObjects, deleteOrphaning, orphaned, type PromotionSetup, setUpPromotion } from "./harness.ts";

/** How late the operator's watch of EmbeddingModels delivers (the collector orphans within ~1 s). */
const modelWatchLagMs = 5_000;

describe("an EmbeddingModel deleted with --cascade=orphan while the operator's watch of models lags", () => {
  let proxy: ApiFaultProxy | undefined;
  let setup: PromotionSetup | undefined;
  const passing: ParityObservation = { sampled: 4, matched: 4, minCosine: 0.99999 };
  afterAll(async () => {
    await setup?.stop();
    await proxy?.close();
  });

  it("leaves its children running, unowned; applied again, the model adopts the same objects", async () => {
    proxy = await startApiFaultProxy(requireEnv("KUBECONFIG"));
    const modelPath = (path: string) => /\/embeddingmodels(\/jobs-model)?$/.test(path);
    proxy.setRule(({ method, path, query }) =>
      method === "GET" && query.get("watch") === "true" && modelPath(path)
        ? { status: 200, lagMs: modelWatchLagMs }
        : undefined,
    );
    setup = await setUpPromotion("orphan-lag", () => passing, { kubeconfigPath: proxy.kubeconfigPath });
    const { namespace } = setup;
    const until = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { timeoutMs: 90_000, intervalMs: 250 });
    const metadataOf = async (name: string) =>
      (await getObject(name, namespace))?.metadata as
        (Json & { uid: string; ownerReferences?: Json[] }) | undefined;

    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "v1's Deployment and the query Service, owned by the model",
      async () =>
        (await metadataOf("deployment/jobs-model-v1"))?.ownerReferences !== undefined &&
        (await metadataOf("service/jobs-model"))?.ownerReferences !== undefined,
    );
    const kept = {
      deployment: (await metadataOf("deployment/jobs-model-v1"))!.uid,
      service: (await metadataOf("service/jobs-model"))!.uid,
    };

    const phaseSeries = async () =>
      ((await setup!.operator.registry.getSingleMetric("jude_promotion_phase")?.get())?.values ?? []).filter(
        (value) => value.labels.namespace === namespace,
      ).length;
    await until("the model's phase series", async () => (await phaseSeries()) > 0);
    const deletedAtMs = Date.now();
    await deleteOrphaning(namespace, "embeddingmodel/jobs-model");
    // The operator's watch delivered the deletion (the model's series are forgotten then); the
    // children were never owned again, so the collector has nothing to delete.
    await until("the operator seeing the deletion", async () => (await phaseSeries()) === 0);
    expect(await orphaned("deployment/jobs-model-v1", namespace)).toBe(true);
    expect(await orphaned("service/jobs-model", namespace)).toBe(true);
    expect((await metadataOf("deployment/jobs-model-v1"))?.uid).toBe(kept.deployment);
    // The collector's patch of a child woke a reconcile that still saw the model: it read the model
    // live before applying (the proxy sees that read) and applied nothing.
    expect(
      proxy!.requests.some(
        (request) =>
          request.method === "GET" &&
          request.query.get("watch") !== "true" &&
          request.path.endsWith("/embeddingmodels/jobs-model") &&
          request.atMs >= deletedAtMs,
      ),
    ).toBe(true);

    await applyObjects(namespace, [modelAt("v1")]);
    await until(
      "the model applied again",
      async () => (await getObject("embeddingmodel/jobs-model", namespace)) !== undefined,
    );
    const uid = ((await getObject("embeddingmodel/jobs-model", namespace))!.metadata as Json).uid;
    await until(
      "v1's Deployment and the query Service adopted",
      async () =>
        (await metadataOf("deployment/jobs-model-v1"))?.ownerReferences?.[0]?.uid === uid &&
        (await metadataOf("service/jobs-model"))?.ownerReferences?.[0]?.uid === uid,
    );
    expect((await metadataOf("deployment/jobs-model-v1"))?.uid).toBe(kept.deployment);
    expect((await metadataOf("service/jobs-model"))?.uid).toBe(kept.service);
  });
});

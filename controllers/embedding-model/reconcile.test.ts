import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext, type RecordedCall } from "../nearline-pipeline/fake-context.ts";
import { setPath, stored, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { imagesFor } from "../shared/image.ts";
import { endpointOf, ModelStores } from "./model-store.ts";
import { promotionMetrics, recordPromotion } from "./promotion-metrics.ts";
import { reconcileEmbeddingModel } from "./reconcile.ts";

describe("reconcileEmbeddingModel", () => {
  it("stalls a spec it cannot parse for the generation it read, keeping the rest of the status", async () => {
    const model = stored("embedding-model.yaml", "model-uid", (object) => {
      (object.metadata as { generation: number }).generation = 3;
      (object.spec as { version: string }).version = "Not A DNS Label";
      object.status = { observedGeneration: 2, activeVersion: "minilm-v1" };
    }) as KubeObject;
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      {
        EmbeddingModel: [model],
      },
    );
    const stores = new ModelStores();
    await reconcileEmbeddingModel(context, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      stores,
      registry: new Registry(),
    });
    stores.close();
    const [write] = calls as Extract<RecordedCall, { verb: "applyStatus" }>[];
    expect(write?.status).toMatchObject({ observedGeneration: 3, activeVersion: "minilm-v1" });
    expect(write?.status.conditions).toContainEqual(
      expect.objectContaining({
        type: "Stalled",
        status: "True",
        reason: "InvalidSpec",
        observedGeneration: 3,
      }),
    );
  });
});

// Stalled for a missing store Secret, a model kept its status as it was, status.approval included:
// removed from the spec meanwhile (as `kubectl jude approve` tells, for an approval given for an
// earlier build), it stayed, and "wait until status.approval is gone" waited as long as the Secret.
describe("reconcileEmbeddingModel while its store Secret is missing", () => {
  const approval = {
    version: "minilm-v2",
    observedTime: "2026-12-01T11:00:00Z",
    build: "2026-11-01T10:00:00Z",
  };
  const statusAfter = async (approvedVersion: string | undefined) => {
    const model = stored("embedding-model.yaml", "model-uid", (object) => {
      setPath(object, "spec.version", "minilm-v2");
      setPath(object, "spec.promotion.cutover", "Manual");
      setPath(object, "spec.promotion.approvedVersion", approvedVersion);
      object.status = { observedGeneration: 1, activeVersion: "minilm-v1", approval };
    }) as KubeObject;
    const pipeline = stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject;
    const { context, calls } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { EmbeddingModel: [model], NearlinePipeline: [pipeline] },
    );
    const stores = new ModelStores();
    await reconcileEmbeddingModel(context, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      stores,
      registry: new Registry(),
    });
    stores.close();
    const [write] = calls.filter((call) => call.verb === "applyStatus");
    expect(write?.status.conditions).toContainEqual(
      expect.objectContaining({ type: "Stalled", status: "True", reason: "SecretNotFound" }),
    );
    return write?.status;
  };

  it("forgets an approval removed from the spec, as a reconcile that decides does", async () => {
    const status = await statusAfter(undefined);
    expect(status).toMatchObject({ activeVersion: "minilm-v1" });
    expect(status?.approval).toBeUndefined();
  });

  it("keeps one the spec still names", async () => {
    expect((await statusAfter("minilm-v2"))?.approval).toEqual(approval);
  });
});

/** ModelStores that notes the models whose store connection a reconcile gave up. */
class ReleaseNotingStores extends ModelStores {
  readonly released: string[] = [];
  override release(user: string): void {
    this.released.push(user);
    super.release(user);
  }
}

describe("reconcileEmbeddingModel of a spec it cannot parse", () => {
  it("gives up the model's store connection (InvalidSpec uses no store until the spec is fixed)", async () => {
    // Was: kept open (and, for a Redis that went away, reconnected to every 2 s) until the spec was
    // fixed or the model deleted.
    const model = stored("embedding-model.yaml", "model-uid", (object) => {
      (object.spec as { version: string }).version = "Not A DNS Label";
    }) as KubeObject;
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { EmbeddingModel: [model] },
    );
    const stores = new ReleaseNotingStores();
    await reconcileEmbeddingModel(context, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      stores,
      registry: new Registry(),
    });
    stores.close();
    expect(stores.released).toEqual([`${testNamespace}/jude-minilm`]);
  });
});

describe("endpointOf", () => {
  it.each([
    ["redis://:hunter2@10.0.0.1:6379/0", "redis://10.0.0.1:6379"],
    ["rediss://user:pass@redis.example:6380", "rediss://redis.example:6380"],
    ["not a url :pass@", "the URL in its Secret"],
  ])("%s -> %s", (url, expected) => {
    expect(endpointOf(url)).toBe(expected);
  });
});

describe("reconcileEmbeddingModel of a deleted model", () => {
  it("drops the model's promotion series, so JudePromotionStalled does not fire for a model that is gone", async () => {
    const registry = new Registry();
    await recordPromotion(
      promotionMetrics(registry),
      { namespace: testNamespace, name: "jude-minilm" },
      {
        specVersion: "minilm-v2",
        phases: { "minilm-v1": "Active", "minilm-v2": "Failed" },
        gates: [],
        stalled: true,
      },
    );
    promotionMetrics(registry).cutoverSeconds.observe(
      { namespace: testNamespace, model: "jude-minilm", kind: "flip" },
      0.01,
    );
    expect(await registry.metrics()).toContain(
      'jude_promotion_stalled{namespace="' + testNamespace + '",model="jude-minilm",version="minilm-v2"} 1',
    );
    const { context } = fakeContext(
      { namespace: testNamespace, name: "jude-minilm" },
      { EmbeddingModel: [] },
    );
    const stores = new ModelStores();
    await reconcileEmbeddingModel(context, {
      images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
      stores,
      registry,
    });
    stores.close();
    expect(await registry.metrics()).not.toContain('model="jude-minilm"');
  });
});

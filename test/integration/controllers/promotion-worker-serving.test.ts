// The workers of the active version keep calling its servers as they serve while a promotion is in
// flight: with the NearlinePipeline controller on the testbed (real API server and Kafka), a candidate
// that turns a bearer token on does not reconfigure the active version's workers, whose servers (as
// their record says) take calls without one.
import type { V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { desiredVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import { configFileName } from "../../../controllers/nearline-pipeline/config-map.ts";
import { parseEmbeddingModel } from "../../../crds/index.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { mountedConfigMap } from "../../support/config-maps.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  markModelObserved,
  patchMinilm,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";
import { waitFor } from "../../testbed/wait.ts";

describe("workers of the active version during a promotion", () => {
  let harness: ControllersHarness;

  beforeAll(async () => {
    harness = await startControllers("midflight-workers");
    const topic = uniqueTopic("midflight-workers");
    await createTopics([topic], 1);
    await applyObjects(harness.namespace, [storeSecret(), model(), pipeline("jobs", topic)]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("call its servers without the token the candidate's spec turns on", async () => {
    const ns = harness.namespace;
    const stored = parseEmbeddingModel(await kubectlJson(["get", "-n", ns, "embeddingmodel/jude-minilm"]));
    // What the EmbeddingModel controller records of the active version: served without auth.
    const record = desiredVersionRecord(stored, {
      version: stored.spec.version,
      spec: { model: stored.spec.model, prompts: stored.spec.prompts, serving: stored.spec.serving },
      promotionStartTime: "2026-12-01T00:00:00Z",
      activatedTime: "2026-12-01T01:00:00Z",
      workers: true,
    });
    await applyObjects(ns, [{ ...record, metadata: { ...record.metadata, namespace: undefined } }]);
    const workers = `jobs-${stored.spec.version}-nearline`;
    await waitForObject(ns, `deployment/${workers}`, "the active version's workers", () => true);

    // The candidate: a new version whose servers require a token.
    await kubectl(["create", "secret", "generic", "-n", ns, "jude-serving-token", "--from-literal=token=t0"]);
    await patchMinilm(ns, {
      spec: {
        version: "minilm-v2",
        model: { uri: "pvc://jude-models/v2/model.onnx" },
        serving: { auth: { tokenSecretRef: { name: "jude-serving-token", key: "token" } } },
      },
    });
    // The status the EmbeddingModel controller writes next, with an endpoint the worker config shows:
    // once it does, the pipeline controller rendered the workers from the edited spec.
    const generation = (
      await kubectlJson<{ metadata: { generation: number } }>(["get", "-n", ns, "embeddingmodel/jude-minilm"])
    ).metadata.generation;
    const endpoint = `jude-minilm-${stored.spec.version}.${ns}.svc.cluster.local:50051`;
    await patchMinilm(ns, {
      status: {
        observedGeneration: generation,
        versions: [
          {
            version: stored.spec.version,
            phase: "Active",
            modelDigest: stored.spec.model.sha256,
            endpoint,
          },
        ],
      },
    });
    // The workers' config is content-addressed: the one their Deployment mounts.
    let configMap: V1ConfigMap | undefined;
    await waitFor(
      "workers rendered from the edited model",
      async () => {
        configMap = await mountedConfigMap(ns, workers);
        return (configMap.data?.[configFileName] ?? "").includes(endpoint);
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const config = parse(configMap!.data![configFileName]!) as { embedding: { token?: unknown } };
    expect(config.embedding.token).toBeUndefined();
  });
});

// The NearlinePipeline controller on the testbed's API server, without the EmbeddingModel controller
// (which would put the labels back): v2 is active and v1 drains, its record saying its workers run,
// when someone removes the model label from v1's record (kubectl label configmap … jude.dev/model-).
// The pipeline's next reconcile must keep v1's workers: it reads the record of every version the
// model's spec and status name by name, not only the records its cache lists by label.
import type { V1Deployment } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbeddingModel } from "../../../crds/index.ts";
import { desiredVersionRecord, recordedSpec } from "../../../controllers/embedding-model/version-record.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  patchMinilm,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";

describe("a Draining version's record with its labels removed by hand", () => {
  let harness: ControllersHarness;

  beforeAll(async () => {
    harness = await startControllers("record-unlabelled");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("keeps the version's workers", async () => {
    const ns = harness.namespace;
    const topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], 3);
    await applyObjects(ns, [storeSecret(), model()]);
    const readModel = async () =>
      parseEmbeddingModel(await kubectlJson<object>(["get", "-n", ns, "embeddingmodel/jude-minilm"]));
    const v1 = await readModel();
    await patchMinilm(ns, { spec: { version: "minilm-v2" } });
    const v2 = await readModel();
    // What the EmbeddingModel controller records and says once v2 went live and v1 drains.
    for (const version of [v1, v2])
      await kubectl(
        ["apply", "-n", ns, "-f", "-"],
        JSON.stringify(
          desiredVersionRecord(version, {
            version: version.spec.version,
            spec: recordedSpec(version),
            promotionStartTime: "2026-12-01T00:00:00Z",
            activatedTime: "2026-12-01T01:00:00Z",
            workers: true,
          }),
        ),
      );
    await patchMinilm(ns, {
      status: {
        observedGeneration: v2.metadata.generation,
        activeVersion: "minilm-v2",
        versions: [
          { version: "minilm-v1", phase: "Draining" },
          { version: "minilm-v2", phase: "Active" },
        ],
      },
    });
    await applyObjects(ns, [pipeline("jobs", topic)]);
    const workers = await waitForObject<V1Deployment>(
      ns,
      "deployment/jobs-minilm-v1-nearline",
      "v1's worker Deployment",
      () => true,
    );
    await waitForObject<V1Deployment>(ns, "deployment/jobs-minilm-v2-nearline", "v2's workers", () => true);

    await kubectl(["label", "configmap", "-n", ns, "jude-minilm-minilm-v1-record", "jude.dev/model-"]);
    // A spec change makes the pipeline reconcile; its observedGeneration says it has.
    await applyObjects(ns, [
      pipeline("jobs", topic, (spec) => {
        spec.workers = { replicas: 3, maxBatchSize: 64, maxInflight: 4 };
      }),
    ]);
    const { metadata } = await kubectlJson<{ metadata: { generation: number } }>([
      "get",
      "-n",
      ns,
      "nearlinepipeline/jobs",
    ]);
    await waitForObject<{ status?: { observedGeneration?: number } }>(
      ns,
      "nearlinepipeline/jobs",
      "the pipeline reconciled after the labels were removed",
      (object) => object.status?.observedGeneration === metadata.generation,
    );
    const after = await kubectlJson<{ items: V1Deployment[] }>(["get", "-n", ns, "deployments"]);
    const v1After = after.items.find((item) => item.metadata?.name === "jobs-minilm-v1-nearline");
    expect(v1After?.metadata?.uid).toBe(workers.metadata?.uid);
    expect(v1After?.metadata?.deletionTimestamp).toBeUndefined();
    expect(v1After?.spec?.replicas).toBe(3);
  });
});

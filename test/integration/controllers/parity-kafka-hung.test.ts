// The parity gate's measurement reads the sampled keys' source events from the changelog: when the
// broker accepts connections and never answers (a partition, a hung load balancer), the measurement
// must end with the gate's "could not be measured" and let the model's reconcile go on, not hold it
// (and one of the controller's few workers) until the broker answers again. The testbed's broker stays
// up for the other suites: the pipeline reaches it through a TCP link the test freezes once the
// version's run exists (connections stay open, nothing passes).
// Bootstrap shards and worker lag are played as in promotion.test.ts.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  testImages,
  type Json,
} from "../operator/operator-harness.ts";
import { applyObjects, buildVersion, openTestStore, startManager } from "./harness.ts";
import { pipeline, promotionModelAt as modelAt, storeSecret } from "./objects.ts";

/**
 * The measurement's time limit here (--parity-timeout-seconds; 30 s in production): against a broker
 * that never answers, only this limit ends it (the Kafka client's own retries last far longer).
 */
const parityTimeoutMs = 5_000;

describe("the parity measurement against a changelog broker that stops answering", () => {
  const namespace = `parity-kafka-hung-faultops-${process.pid}-${Date.now().toString(36)}`;
  let link: TcpLink;
  let acceptedAtFreeze = 0;
  let stopOperator: (() => Promise<void>) | undefined;
  let closeStore: (() => void) | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    const [host, port] = requireEnv("JUDE_KAFKA_BOOTSTRAP").split(":");
    link = await startTcpLink({ host: host!, port: Number(port) });
    const topic = uniqueTopic("faultops-parity");
    await createTopics([topic], 1);
    const opened = await openTestStore(namespace);
    closeStore = opened.close;
    const jobs = pipeline("jobs", topic, (spec) => {
      spec.modelRef = { name: "jobs-model" };
      spec.sinks.store.name = namespace;
      spec.source.kafka.bootstrapServers = [`127.0.0.1:${link.port}`];
    });
    await applyObjects(namespace, [storeSecret(), jobs]);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
    stopOperator = startManager(
      namespace,
      "parity-kafka-hung",
      (manager) =>
        manager.add(
          embeddingModelController({
            images: testImages,
            concurrency: 2,
            registry: manager.metrics.registry,
            // Never reached: the measurement reads the changelog before it embeds.
            servingEndpoint: () => "127.0.0.1:1",
            parityTimeoutMs,
          }),
        ),
      { kubeConfig },
    );
    await applyObjects(namespace, [modelAt("v1")]);
    await waitFor(
      "v1's run",
      async () => (await getObject("bootstraprun/jobs-v1-promotion", namespace)) !== undefined,
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    // From now on the broker does not answer: the parity measurement is the first to need it.
    link.freeze();
    acceptedAtFreeze = link.accepted();
    await buildVersion(opened.store, namespace, "v1", ["v1"]);
  }, 180_000);

  afterAll(async () => {
    await stopOperator?.();
    closeStore?.();
    link?.thaw();
    await link?.close();
    await deleteNamespace(namespace);
  });

  it("says the gate could not be measured and goes on reconciling the model", async () => {
    await waitFor("the measurement reached the broker", async () => link.accepted() > acceptedAtFreeze, {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    // A change the model's reconcile must observe while the broker still does not answer.
    await applyObjects(namespace, [modelAt("v1", { bakeSeconds: 700 })]);
    const model = async () => (await getObject("embeddingmodel/jobs-model", namespace)) as Json;
    const generation = ((await model()).metadata as Json).generation;
    let parity: Json | undefined;
    await waitFor(
      "the change observed, parity not measured",
      async () => {
        const status = (await model()).status as { observedGeneration?: number; conditions?: Json[] };
        parity = status.conditions?.find((condition) => condition.type === "ParityPassed");
        return status.observedGeneration === generation && parity !== undefined;
      },
      { timeoutMs: 150_000, intervalMs: 1_000 },
    );
    expect(parity).toMatchObject({ status: "False" });
    expect(String(parity!.message)).toContain(
      `could not be measured: not finished within ${parityTimeoutMs / 1000} s`,
    );
  });
});

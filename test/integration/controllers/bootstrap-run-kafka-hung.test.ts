// The BootstrapRun controller when the changelog's broker does not answer as a run starts: the run's
// pipeline reaches the testbed's Kafka through a TCP link the test freezes (connections stay open,
// nothing passes: a partition, a hung load balancer), so the capture of the end offsets hangs until
// its own time limit. The
// testbed's broker itself stays up for the other suites. The run must start no shard without its
// watermarks, and once the link thaws capture them and start its shards once.
import type { V1Job } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireEnv } from "../../support/env.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import { startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import { waitFor } from "../../testbed/wait.ts";
import type { Json } from "../operator/operator-harness.ts";
import {
  applyObjects,
  conditionOf,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, snapshotEvents, storeSecret } from "./objects.ts";

interface RunObject {
  status?: {
    phase?: string;
    watermarks?: { topic: string; partitions: { partition: number; offset: number }[] };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

/**
 * The capture's time limit here (--external-timeout-seconds; 20 s in production): generous next to a
 * capture through the thawed link to the local broker, short enough that three tries take seconds.
 */
const externalTimeoutMs = 5_000;

describe("a BootstrapRun whose changelog broker hangs as it starts", () => {
  let harness: ControllersHarness;
  let link: TcpLink;
  let topic: string;
  const produced = [4, 2];

  beforeAll(async () => {
    harness = await startControllers("bootstrap-kafka-hung-faultops", {
      settings: { externalTimeoutMs },
      manager: { reconcileErrorAfterMs: 10_000 },
    });
    topic = uniqueTopic("faultops-changelog");
    await createTopics([topic], produced.length);
    await produceEvents(topic, snapshotEvents(produced));
    const [host, port] = requireEnv("JUDE_KAFKA_BOOTSTRAP").split(":");
    link = await startTcpLink({ host: host!, port: Number(port) });
    await applyObjects(harness.namespace, [
      storeSecret(),
      model(),
      pipeline("jobs", topic, (spec) => {
        spec.source.kafka.bootstrapServers = [`127.0.0.1:${link.port}`];
      }),
    ]);
  });

  afterAll(async () => {
    link?.thaw();
    await harness?.stop();
    await link?.close();
  });

  it("starts no shard while the capture hangs, then captures and starts them once", async () => {
    const ns = harness.namespace;
    link.freeze();
    await applyObjects(ns, [bootstrapRun("jobs-minilm-v1", "jobs", 2)]);
    // Each capture gives up after its own time limit, and the run says why after three (and 10 s).
    let stuck: RunObject | undefined;
    await waitFor(
      "the run's ReconcileError",
      async () => {
        stuck = await kubectlJson<RunObject>(["get", "-n", ns, "bootstraprun/jobs-minilm-v1"]);
        return conditionOf(stuck as Json, "Ready")?.reason === "ReconcileError";
      },
      { timeoutMs: 180_000, intervalMs: 1_000 },
    );
    expect(conditionOf(stuck as Json, "Ready")?.message).toContain(
      `no answer within ${externalTimeoutMs / 1000} s`,
    );
    expect(stuck?.status?.watermarks).toBeUndefined();
    const jobs = async () =>
      (await kubectlJson<{ items: V1Job[] }>(["get", "jobs", "-n", ns])).items.map(
        (job) => job.metadata!.name,
      );
    expect(await jobs()).toEqual([]);

    link.thaw();
    await waitForObject<V1Job>(ns, "job/jobs-minilm-v1-bootstrap", "the run's Job", () => true);
    const run = await kubectlJson<RunObject>(["get", "-n", ns, "bootstraprun/jobs-minilm-v1"]);
    expect(run.status?.watermarks?.partitions).toEqual(
      produced.map((offset, partition) => ({ partition, offset })),
    );
    await waitFor("the run Running", async () => {
      const now = await kubectlJson<RunObject>(["get", "-n", ns, "bootstraprun/jobs-minilm-v1"]);
      return now.status?.phase !== "Pending";
    });
    expect(await jobs()).toEqual(["jobs-minilm-v1-bootstrap"]);
  });
});

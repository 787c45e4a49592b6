// A BootstrapRun whose NearlinePipeline moves to another store (spec.sinks.store.name) before the run
// finished, on the testbed's API server with the operator's real informer cache: the Job records the
// store its shards write to (an annotation, kept when suspend is passed on to the Job), and once the
// pipeline names another store the Job is replaced by one whose shards write there, from the same
// watermarks, with a StoreChanged Event on the run. The shards' ConfigMap names the store too, but the
// operator's cache keeps no ConfigMap data, so only the Job can say it.
import type { V1ConfigMap, V1Job } from "@kubernetes/client-node";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeEndpoint } from "../../../controllers/nearline-pipeline/store-endpoint.ts";
import { bootstrapConfigSchema } from "../../../pipelines/bootstrap/config.ts";
import { requireEnv } from "../../support/env.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import {
  applyObjects,
  conditionOf,
  startControllers,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, snapshotEvents, storeSecret } from "./objects.ts";

interface RunObject {
  [field: string]: unknown;
  metadata: { uid: string };
  status?: {
    phase?: string;
    watermarks?: { topic: string; partitions: { partition: number; offset: number }[] };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

describe("a BootstrapRun whose pipeline moves to another store", () => {
  let harness: ControllersHarness;
  let topic: string;
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const firstStore = `storerun-a-${suffix}`;
  const secondStore = `storerun-b-${suffix}`;
  const onStore = (name: string) =>
    pipeline("jobs", topic, (spec) => {
      spec.sinks.store.name = name;
    });

  beforeAll(async () => {
    harness = await startControllers("storerun-switch");
    topic = uniqueTopic("storerun-changelog");
    await createTopics([topic], 2);
    await produceEvents(topic, snapshotEvents([4, 2]));
    await applyObjects(harness.namespace, [storeSecret(), model(), onStore(firstStore)]);
  }, 120_000);

  afterAll(async () => {
    await harness?.stop();
  });

  it("replaces the run's Job so the version is bootstrapped into the new store", async () => {
    const ns = harness.namespace;
    // Suspended: kwok would complete the shard pods at once and finish the run.
    const run = bootstrapRun("jobs-moving", "jobs", 2);
    (run.spec as { suspend: boolean }).suspend = true;
    await applyObjects(ns, [run]);
    const first = await waitForObject<V1Job>(ns, "job/jobs-moving-bootstrap", "the Job", () => true);
    expect(first.metadata?.annotations).toMatchObject({
      "jude.dev/store": firstStore,
      "jude.dev/store-endpoint": storeEndpoint(requireEnv("JUDE_REDIS_URL"))!,
    });
    const started = await waitForObject<RunObject>(
      ns,
      "bootstraprun/jobs-moving",
      "run Suspended",
      (object) => object.status?.phase === "Suspended",
    );

    await applyObjects(ns, [onStore(secondStore)]);
    const second = await waitForObject<V1Job>(
      ns,
      "job/jobs-moving-bootstrap",
      "a new Job for the new store",
      (job) => job.metadata?.uid !== first.metadata?.uid,
    );
    expect(second.metadata?.annotations).toMatchObject({ "jude.dev/store": secondStore });
    expect(second.spec?.suspend).toBe(true);
    const configMap = await kubectlJson<V1ConfigMap>(["get", "-n", ns, "configmap/jobs-moving-bootstrap"]);
    const config = bootstrapConfigSchema.parse(parse(configMap.data!["config.yaml"]!));
    expect(config.store.name).toBe(secondStore);
    // From the snapshot the run captured when it started, not a new one.
    expect(config.source.kafka?.watermarks).toEqual(started.status?.watermarks?.partitions);
    const moved = await kubectlJson<RunObject>(["get", "-n", ns, "bootstraprun/jobs-moving"]);
    expect(moved.status?.watermarks).toEqual(started.status?.watermarks);
    expect(conditionOf(moved, "Stalled")?.status).not.toBe("True");

    const events = await kubectl([
      "get",
      "events",
      "-n",
      ns,
      "--field-selector=involvedObject.kind=BootstrapRun,reason=StoreChanged",
      "-o",
      "jsonpath={range .items[*]}{.type}|{.count}|{.message}{'\\n'}{end}",
    ]);
    const said = events.split("\n").filter((line) => line !== "");
    // Said once: a reconcile woken by the run's status write before the Job's deletion reached the
    // cache does not delete it again.
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^Normal\|1\|/);
    expect(said[0]).toContain(`store "${firstStore}"`);
    expect(said[0]).toContain(`store "${secondStore}"`);

    // Resumed: the control passed on to the Job keeps the store it records (an apply without the
    // annotation would remove it, and the next move would go unseen).
    await kubectl([
      "patch",
      "-n",
      ns,
      "bootstraprun/jobs-moving",
      "--type=merge",
      "-p",
      '{"spec":{"suspend":false}}',
    ]);
    const resumed = await waitForObject<V1Job>(
      ns,
      "job/jobs-moving-bootstrap",
      "the Job resumed",
      (job) => job.spec?.suspend === false,
    );
    expect(resumed.metadata?.uid).toBe(second.metadata?.uid);
    expect(resumed.metadata?.annotations).toMatchObject({ "jude.dev/store": secondStore });
  }, 240_000);
});

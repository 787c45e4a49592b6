// Nearline worker pods that crash or fail a probe, and bootstrap shard pods that fail and are retried.
// Workers on kwok: its pretend pods take the status a test writes (and the Events a kubelet records),
// and the Deployment controller acts on it as on a real kubelet's. Shards on a local node, really run
// (kwok completes a Job's pods at once). Their resources must name the pod with the kubelet's words as
// serving pods are named (serving-pod-health.test.ts), not only count workers ready or shards running.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import { reportProbeFailure, reportRestarted, runningPods } from "../../support/kubelet-reports.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  startManager,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { bootstrapRun, model, pipeline, snapshotEvents, storeSecret } from "./objects.ts";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import { localNodeTaint } from "../../testbed/local-nodes/local-node-registry.ts";
import { createRestrictedNamespace, deleteNamespace, testImages } from "../operator/operator-harness.ts";

/** The last exit message of a restarted container. */
const crashMessage = "cannot reach Kafka: statusworkers test";

const localNode = `${process.env.JUDE_LOCAL_NODE_PREFIX ?? ""}local-cpu-0`;
const onLocalNode = {
  nodeSelector: { "kubernetes.io/hostname": localNode },
  tolerations: [{ key: localNodeTaint.key, operator: "Exists", effect: "NoSchedule" }],
};

type Status = {
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

describe("worker and shard pods that crash or fail a probe", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    // A 5 s pipeline poll (--pipeline-poll-seconds; 30 s in production): what no watch brings (the
    // workers' figures, an Unhealthy Event's words) is read at the poll.
    harness = await startControllers("statusworkers-health", { settings: { pipelinePollMs: 5_000 } });
    topic = uniqueTopic("statusworkers-changelog");
    await createTopics([topic], 2);
    await applyObjects(harness.namespace, [storeSecret(), model()]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("a NearlinePipeline names a worker failing its readiness probe, restarted once, then crash-looping", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("jobs", topic, (spec) => void (spec.workers!.replicas = 1))]);
    await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "pipeline Ready",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
    const ready = (object: Status) => conditionOf(object, "Ready")?.message ?? "";

    // Running, its readiness probe failing: the kubelet's words from its Unhealthy Event.
    const [probing] = await runningPods(ns, "jobs-minilm-v1-nearline-");
    await reportRestarted(ns, probing!, 0, false, crashMessage);
    await reportProbeFailure(
      ns,
      probing!,
      "nearline",
      "Readiness probe failed: HTTP probe failed with statuscode: 503",
    );
    const unready = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "the probe's failure",
      (object) => /Readiness probe failed/.test(ready(object)),
    );
    expect(conditionOf(unready, "Ready")).toMatchObject({ status: "False", reason: "RollingOut" });
    expect(ready(unready)).toMatch(
      /^version minilm-v1: Deployment jobs-minilm-v1-nearline: 0 of 1 workers ready; pod jobs-minilm-v1-nearline-[a-z0-9]+-[a-z0-9]+, container nearline: running since \S+Z, not ready: Readiness probe failed: HTTP probe failed with statuscode: 503$/,
    );

    // One crash, restarted at once: named, not a failure.
    await reportRestarted(ns, probing!, 1, false, crashMessage);
    const restarted = await waitForObject<Status>(ns, "nearlinepipeline/jobs", "the restart", (object) =>
      /restarted after a failed exit/.test(ready(object)),
    );
    expect(conditionOf(restarted, "Stalled")?.status).toBe("False");
    expect(ready(restarted)).toMatch(
      /restarted after a failed exit \(last exit: Error, exit code 1 \(cannot reach Kafka: statusworkers test\), 1 restart\)/,
    );

    // Failed again, started again after its back-off: a crash loop.
    await reportRestarted(ns, probing!, 2, false, crashMessage);
    const looping = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "Stalled PodFailing",
      (object) => conditionOf(object, "Stalled")?.reason === "PodFailing",
    );
    expect(ready(looping)).toMatch(
      /; 1 pod cannot run \(jobs-minilm-v1-nearline-[a-z0-9]+-[a-z0-9]+, container nearline\): CrashLoopBackOff: started again, not ready yet; last exit: Error, exit code 1 \(cannot reach Kafka: statusworkers test\), 2 restarts$/,
    );

    await reportRestarted(ns, probing!, 2, true, crashMessage);
    await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "pipeline Ready again",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
  });

  it("a BootstrapRun names a shard that failed and was retried, with its last exit, before its backoffLimit fails it", async () => {
    // The project's image on a local node (a real process), over a memory limit far too small: each
    // shard pod is OOMKilled, and the Job makes a new one after its back-off (10 s, then 20 s).
    const ns = `statusworkers-oom-${process.pid}-${Date.now().toString(36)}`;
    await createRestrictedNamespace(ns);
    const stop = startManager(ns, "statusworkers-oom-test", (manager) => {
      manager.add(bootstrapRunController({ images: testImages, placement: onLocalNode, concurrency: 2 }));
    });
    try {
      await applyObjects(ns, [storeSecret(), model()]);
      await markModelObserved(ns, "jude-minilm");
      const run = bootstrapRun("jobs-oom", "jobs", 1);
      Object.assign(run.spec as Record<string, unknown>, {
        backoffLimit: 3,
        resources: { requests: { cpu: "100m", memory: "16Mi" }, limits: { memory: "24Mi" } },
      });
      // Valid records, so the shard waits for its (absent) embedding server and is measured.
      const oomTopic = uniqueTopic("statusworkers-oom-changelog");
      await createTopics([oomTopic], 2);
      const updatedAt = new Date().toISOString();
      await produceEvents(
        oomTopic,
        snapshotEvents([5, 5]).map((event) => ({
          ...event,
          value: { ...(event.value as object), updatedAt },
        })),
      );
      await applyObjects(ns, [pipeline("jobs", oomTopic), run]);
      const retried = await waitForObject<Status>(
        ns,
        "bootstraprun/jobs-oom",
        "ShardsRetried",
        (object) => conditionOf(object, "Ready")?.reason === "ShardsRetried",
      );
      expect(retried.status?.phase).toMatch(/^(Pending|Running)$/);
      expect(conditionOf(retried, "Stalled")?.status).toBe("False");
      expect(conditionOf(retried, "Ready")?.message).toMatch(
        /; 1 shard pod failed and was retried \(1 of spec\.backoffLimit 3\); last: pod jobs-oom-bootstrap-0-[a-z0-9]+, container bootstrap: OOMKilled, exit code 137( \(.*\))?$/,
      );
    } finally {
      await stop();
      await deleteNamespace(ns);
    }
  });
});

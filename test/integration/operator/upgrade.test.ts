// What `helm upgrade` does to the workloads a running operator manages, with real `jude operator`
// processes: a restart with other operator-only flags (log level, concurrency, retry delay — what a
// changed chart value gives) rewrites nothing, and a new image tag rolls each serving and worker
// Deployment once, in place, while the bootstrap Job keeps its pod template. The model `m1` is
// promoting its first version (filled by a bootstrap from the pipeline): the serving rollout once shut
// its ServingReady gate and made the pipeline delete and recreate the candidate's workers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { startJudeOperator, stopJude, type JudeProcess } from "../../support/processes.ts";
import { probe } from "../../testbed/http-probe.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  listObjects,
  modelWithJobPipeline,
  type Json,
} from "./operator-harness.ts";

const namespace = `operator-upgrade-${process.pid}`;
const children = ["deployments", "replicasets", "jobs", "configmaps", "services", "pdb", "hpa"];
const resources = ["embeddingmodels", "nearlinepipelines", "bootstrapruns"];
/** Keys each controller has to reconcile after a restart before its view of the children counts. */
const keys = { "embedding-model": 2, "nearline-pipeline": 1, "bootstrap-run": 1 };

interface Operator {
  process: JudeProcess;
  port: number;
}

const startOperator = (flags: string[]): Promise<Operator> =>
  startJudeOperator(`operator-${namespace}`, namespace, flags);

/** Successful reconciles per controller (success and requeue), and the work queues' total depth. */
async function progress(operator: Operator): Promise<{ reconciled: Record<string, number>; depth: number }> {
  const text = (await probe(`http://127.0.0.1:${operator.port}/metrics`)).body;
  const reconciled: Record<string, number> = {};
  let depth = 0;
  for (const line of text.split("\n")) {
    const done =
      /^jude_operator_reconciles_total\{controller="([^"]+)",result="(success|requeue)"\} (\d+)/.exec(line);
    if (done) reconciled[done[1]!] = (reconciled[done[1]!] ?? 0) + Number(done[3]);
    const queued = /^jude_operator_workqueue_depth\{[^}]*\} (\d+)/.exec(line);
    if (queued) depth += Number(queued[1]);
  }
  return { reconciled, depth };
}

/** Waits until a freshly started operator has reconciled every resource once and has nothing queued. */
async function settled(operator: Operator): Promise<void> {
  await waitFor(
    "every resource reconciled by the new operator, nothing queued",
    async () => {
      const { reconciled, depth } = await progress(operator);
      return depth === 0 && Object.entries(keys).every(([name, count]) => (reconciled[name] ?? 0) >= count);
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

interface Seen {
  uid: string;
  generation?: number;
  resourceVersion: string;
  images?: string[];
  conditions?: unknown;
}

/**
 * The children and resources as the operator left them: identity, generation and images of every
 * child, the resourceVersion of those without a status, and the custom resources' conditions.
 */
async function snapshot(): Promise<Record<string, Seen>> {
  const seen: Record<string, Seen> = {};
  for (const kind of [...children, ...resources]) {
    for (const item of await listObjects(kind, namespace, "")) {
      const metadata = item.metadata as {
        name: string;
        uid: string;
        generation?: number;
        resourceVersion: string;
      };
      const pod = ((item.spec as Json | undefined)?.template as Json | undefined)?.spec as
        { containers: { image: string }[]; initContainers?: { image: string }[] } | undefined;
      seen[`${kind}/${metadata.name}`] = {
        uid: metadata.uid,
        resourceVersion: metadata.resourceVersion,
        ...(metadata.generation !== undefined ? { generation: metadata.generation } : {}),
        ...(pod !== undefined
          ? { images: [...(pod.initContainers ?? []), ...pod.containers].map((container) => container.image) }
          : {}),
        ...(resources.includes(kind) ? { conditions: (item.status as Json | undefined)?.conditions } : {}),
      };
    }
  }
  return seen;
}

/** What must not move at all when nothing the children depend on changed. */
const unchanged = (seen: Record<string, Seen>) =>
  Object.fromEntries(
    Object.entries(seen).map(([key, { uid, generation, images, conditions, resourceVersion }]) => [
      key,
      {
        uid,
        generation,
        images,
        conditions,
        // Status-less children: any write at all would show here.
        ...(/^(configmaps|services)\//.test(key) ? { resourceVersion } : {}),
      },
    ]),
  );

describe("operator upgrades and restarts with models, a pipeline and a bootstrap running", () => {
  let operator: Operator | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
  });

  afterAll(async () => {
    if (operator !== undefined) await stopJude(operator.process);
    await deleteNamespace(namespace);
  });

  it("rewrites nothing on a restart with other flags; a new tag rolls each Deployment once, in place", async () => {
    operator = await startOperator(["--log-level=info", "--concurrency=2"]);
    const topic = uniqueTopic("operator-upgrade");
    await createTopics([topic], 2);
    const {
      secret,
      model: m1,
      jobs,
    } = modelWithJobPipeline(namespace, "m1", topic, { replicas: 2 }, (spec) => {
      spec.sinks.store.name = `upgrade-${process.pid}`;
    });
    ((m1.spec as Json).model as Json).sha256 = "1".repeat(64);
    const m2 = cpuModel(namespace, "m2", {
      autoscaling: { minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 70 },
    });
    await apply([secret, m1, m2, jobs]);
    await waitFor(
      "m1's serving, its candidate's workers and bootstrap Job, and m2's serving and HPA",
      async () => {
        const seen = await snapshot();
        return [
          "deployments/m1-v1",
          "deployments/jobs-v1-nearline",
          "jobs/jobs-v1-promotion-bootstrap",
          "deployments/m2-v1",
          "hpa/m2-v1",
        ].every((key) => seen[key] !== undefined);
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    // kwok completes the shard pods without a checkpoint, so the run fails: wait for that, so that no
    // status changes on its own between the snapshots.
    await waitFor(
      "the BootstrapRun finished",
      async () => {
        const [run] = await listObjects("bootstrapruns", namespace, "");
        return ["Failed", "Succeeded"].includes(((run?.status as Json | undefined)?.phase as string) ?? "");
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    // The controller-manager's first status of m2's HPA (no metrics here: ScalingActive False) is
    // reflected in m2's conditions: wait for it too, or it may land between the snapshots.
    await waitFor(
      "m2's HPA has its first status",
      async () => {
        const hpa = (await listObjects("hpa", namespace, "")).find(
          (item) => (item.metadata as { name: string }).name === "m2-v1",
        );
        const conditions = (hpa?.status as { conditions?: { type: string }[] } | undefined)?.conditions;
        return conditions?.some((condition) => condition.type === "ScalingActive") === true;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    await settled(operator);

    // helm upgrade changing only operator values (logLevel, concurrency, retryMaxDelaySeconds).
    await stopJude(operator.process);
    operator = undefined;
    const before = await snapshot();
    operator = await startOperator(["--log-level=debug", "--concurrency=5", "--retry-max-delay-seconds=30"]);
    await settled(operator);
    expect(unchanged(await snapshot())).toEqual(unchanged(before));

    // helm upgrade to a new image tag.
    await stopJude(operator.process);
    operator = undefined;
    const old = await snapshot();
    operator = await startOperator(["--image-tag=0.1.1"]);
    const deployments = ["deployments/m1-v1", "deployments/m2-v1", "deployments/jobs-v1-nearline"];
    await waitFor(
      "every Deployment on the new tag",
      async () => {
        const seen = await snapshot();
        return deployments.every((key) => seen[key]?.images?.every((image) => image.endsWith(":0.1.1")));
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    await settled(operator);
    const upgraded = await snapshot();
    for (const key of deployments) {
      // Rolled in place (one template change, the same object), never deleted and recreated.
      expect(upgraded[key], key).toMatchObject({ uid: old[key]!.uid, generation: old[key]!.generation! + 1 });
    }
    // The bootstrap Job keeps its pod template (the operator writes a Job's template only when it
    // creates it), and nothing else was rewritten.
    const job = "jobs/jobs-v1-promotion-bootstrap";
    expect(upgraded[job]).toMatchObject({ uid: old[job]!.uid, generation: old[job]!.generation });
    expect(upgraded[job]!.images!.every((image) => image.endsWith(":0.1.0"))).toBe(true);
    const rest = (seen: Record<string, Seen>) =>
      Object.fromEntries(
        Object.entries(unchanged(seen)).filter(([key]) =>
          /^(configmaps|services|pdb|hpa|jobs|bootstrapruns)\//.test(key),
        ),
      );
    expect(rest(upgraded)).toEqual(rest(old));
  });
});

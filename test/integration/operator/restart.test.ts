// A real `jude operator` process killed (SIGKILL) in the middle of reconciling a batch of models, then
// started again: everything converges, with exactly one of each child per model and no rollout caused
// by the restart (server-side apply of deterministic names and content is idempotent).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { startJudeOperator, stopJude, type JudeProcess } from "../../support/processes.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  listObjects,
  modelWithJobPipeline,
  type Json,
} from "./operator-harness.ts";

const namespace = `operator-rs-${process.pid}`;
const modelNames = Array.from({ length: 8 }, (_, index) => `model-${index}`);

const startOperator = (watched = namespace) =>
  startJudeOperator(`operator-${watched}`, watched, ["--concurrency=2"]);

describe("operator restarted mid-reconcile", () => {
  let operator: { process: JudeProcess } | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
  });

  afterAll(async () => {
    if (operator !== undefined) await stopJude(operator.process);
    await deleteNamespace(namespace);
  });

  it("converges with no duplicate objects and no extra rollout", async () => {
    operator = await startOperator();
    await apply(modelNames.map((name) => cpuModel(namespace, name, { replicas: 2 })));
    // Kill it as soon as it has begun creating children, before it has finished them all.
    await waitFor(
      "the first serving Deployment",
      async () =>
        (await listObjects("deployments", namespace, "app.kubernetes.io/managed-by=jude-operator")).length >
        0,
      {
        timeoutMs: 60_000,
        intervalMs: 50,
      },
    );
    await stopJude(operator.process, "SIGKILL");
    const readyBeforeRestart = (await listObjects("embeddingmodels", namespace, "")).filter(
      (item) => condition(item, "Ready")?.status === "True",
    ).length;
    expect(readyBeforeRestart).toBeLessThan(modelNames.length);

    operator = await startOperator();
    await waitFor(
      "every model Ready",
      async () =>
        (await listObjects("embeddingmodels", namespace, "")).filter(
          (item) => condition(item, "Ready")?.status === "True",
        ).length === modelNames.length,
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    for (const name of modelNames) {
      const selector = `jude.dev/model=${name}`;
      expect((await listObjects("deployments", namespace, selector)).map(nameOf)).toEqual([`${name}-v1`]);
      expect((await listObjects("services", namespace, selector)).map(nameOf).sort()).toEqual([
        name,
        `${name}-v1`,
      ]);
      // The serving config and the version's record (the promotion's memory of v1), one each.
      expect((await listObjects("configmaps", namespace, selector)).map(nameOf).sort()).toEqual([
        expect.stringMatching(new RegExp(`^${name}-v1-[0-9a-f]{10}$`)),
        `${name}-v1-record`,
      ]);
      expect((await listObjects("pdb", namespace, selector)).map(nameOf)).toEqual([`${name}-v1`]);
      // One ReplicaSet: the restart re-applied identical pod templates, so nothing rolled.
      expect(await listObjects("replicasets", namespace, selector)).toHaveLength(1);
      expect(await listObjects("pods", namespace, selector)).toHaveLength(2);
    }
  });
});

describe("operator stopped by SIGTERM", () => {
  const stopNamespace = `${namespace}-stop`;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(stopNamespace);
  });

  afterAll(async () => {
    await deleteNamespace(stopNamespace);
  });

  it("exits after its reconciles opened a model's store", async () => {
    const { process: operator } = await startOperator(stopNamespace);
    let exitCode: number | null | undefined;
    void operator.exited.then((code) => (exitCode = code));
    try {
      const topic = uniqueTopic("operator-stop");
      await createTopics([topic], 1);
      const { secret, model, jobs } = modelWithJobPipeline(stopNamespace, "stop-model", topic, {
        replicas: 1,
      });
      await apply([secret, model, jobs]);
      // The model's first version is bootstrapped from its pipelines' store: once the operator has
      // created that BootstrapRun it has read the store's pointer over a connection it keeps.
      await waitFor(
        "the first version's BootstrapRun",
        async () => (await listObjects("bootstrapruns", stopNamespace, "")).length > 0,
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      operator.child.kill("SIGTERM");
      await waitFor("the operator process to exit after SIGTERM", async () => exitCode !== undefined, {
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      expect(exitCode).toBe(0);
    } finally {
      if (exitCode === undefined) await stopJude(operator, "SIGKILL");
    }
  });
});

function nameOf(object: Json): string {
  return (object.metadata as { name: string }).name;
}

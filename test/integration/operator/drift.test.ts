// Drift of an EmbeddingModel's children on the testbed's real API server and controller-manager
// (Deployment, ReplicaSet and HPA controllers): children deleted or edited by hand come back as the
// spec says, without erasing what other managers add; replicas pass to the HPA and back without the
// Deployment ever dropping below the size it had, and an HPA the spec no longer asks for goes; an owner
// reference removed by hand is put back (the edit wakes the model that owned the child).
import { configMapNameOf, type MountingWorkload } from "../../support/config-maps.ts";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import { replicasHandoverManager } from "../../../controllers/embedding-model/replicas-ownership.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  condition,
  cpuModel,
  getObject,
  testImages,
  waitUntilAtRest,
  type Json,
  useInProcessOperator,
} from "./operator-harness.ts";

const namespace = `operator-drift-${process.pid}`;
const modelName = "drift";
const child = `${modelName}-v1`;

interface Deployment {
  metadata: { uid: string; annotations?: Record<string, string> };
  spec: {
    replicas: number;
    template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Json[] } };
  };
}

async function deployment(): Promise<Deployment> {
  return (await getObject(`deployment/${child}`, namespace)) as unknown as Deployment;
}

/** The model is Ready for its current generation. */
async function waitSettled(timeoutMs = 90_000): Promise<Json> {
  let model: Json | undefined;
  await waitFor(
    `embeddingmodel ${modelName} Ready at its generation`,
    async () => {
      model = await getObject(`embeddingmodel/${modelName}`, namespace);
      return (
        condition(model, "Ready")?.status === "True" &&
        (model?.status as Json).observedGeneration === (model?.metadata as Json).generation
      );
    },
    { timeoutMs, intervalMs: 300 },
  );
  return model!;
}

/** Every spec.replicas the API server reports for the Deployment from now on, in order. */
function watchReplicas(): { seen: number[]; stop: () => void } {
  const seen: number[] = [];
  const watcher = spawn(requireEnv("JUDE_KUBECTL"), [
    "--kubeconfig",
    requireEnv("KUBECONFIG"),
    "get",
    `deployment/${child}`,
    "-n",
    namespace,
    "--watch",
    "-o",
    'jsonpath={.spec.replicas}{"\\n"}',
  ]);
  // A watcher that cannot start only leaves `seen` empty, which the test's assertions report.
  watcher.on("error", () => undefined);
  let buffer = "";
  watcher.stdout.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") seen.push(Number(line.trim()));
  });
  return { seen, stop: () => watcher.kill() };
}

describe("EmbeddingModel children under drift", () => {
  const operator = useInProcessOperator(namespace);

  beforeAll(async () => {
    await apply([cpuModel(namespace, modelName, { replicas: 2 })]);
    await waitSettled(120_000);
  });

  it("recreates children deleted by hand", async () => {
    // The serving config is named by its content (what the Deployment mounts), the rest like the Deployment.
    const config = configMapNameOf((await getObject(`deployment/${child}`, namespace)) as MountingWorkload);
    const children = ["deployment", "service", "pdb"]
      .map((kind) => `${kind}/${child}`)
      .concat(`configmap/${config}`);
    const before = await Promise.all(children.map((name) => getObject(name, namespace)));
    await kubectl(["delete", "-n", namespace, ...children, "--wait=false"]);
    await waitFor(
      "every deleted child recreated",
      async () => {
        const after = await Promise.all(children.map((name) => getObject(name, namespace)));
        return after.every(
          (object, index) =>
            object !== undefined && (object.metadata as Json).uid !== (before[index]?.metadata as Json).uid,
        );
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    await waitSettled();
  });

  it("takes hand-edited fields back to the spec, keeping what other managers added", async () => {
    await kubectl(["scale", "-n", namespace, `deployment/${child}`, "--replicas=4"]);
    await kubectl(["set", "image", "-n", namespace, `deployment/${child}`, "serve=example.com/hotfix:1"]);
    await kubectl(["rollout", "restart", "-n", namespace, `deployment/${child}`]);
    await kubectl(["annotate", "-n", namespace, `deployment/${child}`, "team.example.com/owner=search"]);
    await waitFor(
      "replicas and image back to the spec",
      async () => {
        const current = await deployment();
        return (
          current.spec.replicas === 2 && current.spec.template.spec.containers[0]?.image === testImages.jude
        );
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    const current = await deployment();
    expect(current.metadata.annotations?.["team.example.com/owner"]).toBe("search");
    expect(current.spec.template.metadata.annotations?.["kubectl.kubernetes.io/restartedAt"]).toBeDefined();
    const model = await waitSettled();
    expect(condition(model, "Reconciling")?.status).toBe("False");
  });

  it("puts back an owner reference removed by hand", async () => {
    // The edit's event carries a child with no owner to wake: only the state before it names the
    // model. Without the reference, deleting the model would leave its serving pods running for good.
    await waitUntilAtRest(operator().manager.metrics.registry, "embedding-model", 6_000);
    await kubectl([
      "patch",
      "-n",
      namespace,
      `deployment/${child}`,
      "--type=json",
      "-p",
      JSON.stringify([{ op: "remove", path: "/metadata/ownerReferences" }]),
    ]);
    await waitFor(
      "the model's owner reference back on the Deployment",
      async () => {
        const references = ((await getObject(`deployment/${child}`, namespace))?.metadata as Json)
          .ownerReferences as { kind: string; name: string; controller?: boolean }[] | undefined;
        return (
          references?.some(
            (reference) =>
              reference.kind === "EmbeddingModel" && reference.name === modelName && reference.controller,
          ) === true
        );
      },
      { timeoutMs: 15_000, intervalMs: 300 },
    );
  });

  it("takes a status edited by hand back to what it observes", async () => {
    // Another field manager now owns these status fields (kubectl edit/patch --subresource=status, a
    // script, an operator version with another manager name): a status apply that does not force
    // ownership is refused with a 409 conflict on every reconcile, and the status keeps the edit.
    await kubectl([
      "patch",
      `embeddingmodel/${modelName}`,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { observedGeneration: 99 } }),
    ]);
    const model = await waitSettled(30_000);
    expect((model.status as Json).observedGeneration).toBe((model.metadata as Json).generation);
  });

  it("hands replicas to the HPA without scaling the Deployment down", async () => {
    await apply([cpuModel(namespace, modelName, { replicas: 3 })]);
    await waitFor("3 replicas", async () => (await deployment()).spec.replicas === 3, { timeoutMs: 30_000 });
    const watch = watchReplicas();
    try {
      await waitFor("the watch to report the current size", () => watch.seen.length > 0);
      await apply([
        cpuModel(namespace, modelName, {
          autoscaling: { minReplicas: 3, maxReplicas: 6, targetCPUUtilizationPercentage: 80 },
        }),
      ]);
      await waitFor("the HPA", async () => (await getObject(`hpa/${child}`, namespace)) !== undefined);
      await waitSettled();
    } finally {
      watch.stop();
    }
    expect(Math.min(...watch.seen)).toBe(3);
    expect((await deployment()).spec.replicas).toBe(3);
  });

  it("says in Ready that the HPA cannot compute a replica count (the testbed serves no CPU metrics)", async () => {
    // The HPA says so only on itself (ScalingActive False): the version would stay at 3 replicas for
    // ever under a model that says Ready and nothing more.
    const inactive = new RegExp(
      `; autoscaling inactive: HorizontalPodAutoscaler ${child} cannot compute a replica count \\(FailedGetResourceMetric\\): the HPA was unable to compute the replica count: `,
    );
    let model: Json | undefined;
    await waitFor(
      "Ready to name the HPA's ScalingActive False",
      async () => {
        model = await getObject(`embeddingmodel/${modelName}`, namespace);
        return inactive.test(condition(model, "Ready")?.message ?? "");
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(condition(model, "Ready")?.status).toBe("True");
    expect(condition(model, "ServingReady")?.message).toMatch(inactive);
  });

  it("deletes the HPA and takes replicas back when autoscaling is turned off", async () => {
    await apply([cpuModel(namespace, modelName, { replicas: 2 })]);
    await waitFor(
      "the HPA to be deleted",
      async () => (await getObject(`hpa/${child}`, namespace)) === undefined,
      {
        timeoutMs: 30_000,
      },
    );
    await waitFor("2 replicas", async () => (await deployment()).spec.replicas === 2, { timeoutMs: 30_000 });
    const model = await waitSettled();
    expect(condition(model, "Reconciling")?.status).toBe("False");
  });

  it("hands a Deployment scaled to zero to the HPA at its minReplicas", async () => {
    // The HPA never scales a target whose replicas are 0 (ScalingDisabled): held at 0, the version
    // would serve nothing for ever while the model waits for minReplicas.
    await apply([cpuModel(namespace, modelName, { replicas: 0 })]);
    await waitFor("0 replicas", async () => (await deployment()).spec.replicas === 0, { timeoutMs: 30_000 });
    await waitSettled();
    await apply([
      cpuModel(namespace, modelName, {
        autoscaling: { minReplicas: 2, maxReplicas: 4, targetCPUUtilizationPercentage: 80 },
      }),
    ]);
    await waitFor("the HPA", async () => (await getObject(`hpa/${child}`, namespace)) !== undefined);
    const model = await waitSettled(60_000);
    expect(condition(model, "Reconciling")?.status).toBe("False");
    expect((await deployment()).spec.replicas).toBe(2);
  });

  it("lets go of a zero the hand-over manager holds (left by an operator before the fix)", async () => {
    const yaml = JSON.stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: child, namespace },
      spec: { replicas: 0 },
    });
    const manifest = `${tmpdir()}/${namespace}-handover.json`;
    await writeFile(manifest, yaml);
    await kubectl([
      "apply",
      "--server-side",
      "--force-conflicts",
      `--field-manager=${replicasHandoverManager("jude-embedding-model")}`,
      "-f",
      manifest,
    ]);
    await waitFor("2 replicas again", async () => (await deployment()).spec.replicas === 2, {
      timeoutMs: 60_000,
      intervalMs: 300,
    });
    await waitSettled();
  });
});

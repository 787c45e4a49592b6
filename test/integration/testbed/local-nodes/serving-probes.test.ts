// The operator's own serving probes (servingProbes) on a real `jude serve` process: the pod turns Ready
// only once the server serves, and (printed for the record, not asserted: the machine is shared) how
// long after the server's "serving" line a watch saw the pod Ready, over a few fresh starts.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { servingProbes } from "../../../../controllers/embedding-model/serving-container.ts";
import { kubectl } from "../../../support/kubectl.ts";
import { requireEnv } from "../../../support/env.ts";
import { runProbe } from "../../../testbed/local-nodes/probe-runner.ts";
import { apply, eventually, isReady, pods, type Pod } from "./helpers.ts";
import { embedderDeployment, modelVolume, servingConfig, servingPort } from "./serving-manifests.ts";
import { serverLogLines, withServingScenario } from "./serving-scenario.ts";

const namespace = `local-serving-probes-${process.pid}`;
const controlDir = mkdtempSync(join(tmpdir(), "jude-local-probes-"));

/** The scenario's Deployment with the probes the operator renders for a plain-gRPC serving pod. */
function probedDeployment(): object[] {
  const [deployment, service] = embedderDeployment(namespace, 1, "v1") as [
    { spec: { template: { spec: { containers: Record<string, unknown>[] } } } },
    object,
  ];
  const [server] = deployment.spec.template.spec.containers;
  Object.assign(server!, servingProbes(false), {
    ports: [
      { name: "grpc", containerPort: servingPort },
      { name: "http", containerPort: 8080 },
    ],
  });
  return [deployment, service];
}

async function healthServing(ip: string, service: string): Promise<boolean> {
  return runProbe(
    { grpc: { port: servingPort, service } },
    { podIP: ip, container: { name: "probe" }, pid: 0, env: {}, user: undefined },
    2_000,
  );
}

/** When a watch first saw each pod Ready (epoch ms): a poll would add its own interval and latency. */
const readyAt = new Map<string, number>();

function watchReady(): () => void {
  const watch = spawn(requireEnv("JUDE_KUBECTL"), [
    "--kubeconfig",
    requireEnv("KUBECONFIG"),
    "get",
    "pods",
    "-n",
    namespace,
    "-l",
    "app=embedder",
    "--watch",
    "-o",
    'jsonpath={.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
  ]);
  let pending = "";
  watch.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const now = Date.now();
    const lines = (pending + chunk).split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      const [name, ready] = line.trim().split(" ");
      if (name !== undefined && ready === "True" && !readyAt.has(name)) readyAt.set(name, now);
    }
  });
  return () => void watch.kill();
}

describe("a serving pod with the operator's probes on the local nodes", () => {
  withServingScenario(namespace, controlDir);
  let stopWatch: () => void = () => undefined;
  afterAll(() => stopWatch());
  beforeAll(async () => {
    stopWatch = watchReady();
    await apply(
      ...modelVolume(namespace, requireEnv("JUDE_MODEL_DIR")),
      ...servingConfig(namespace, `token-${process.pid}`),
      ...probedDeployment(),
    );
  });

  it("turns Ready only once the server serves, on each of three fresh starts", async () => {
    const seen = new Set<string>();
    const delays: number[] = [];
    for (let start = 0; start < 3; start += 1) {
      let pod: Pod | undefined;
      await eventually(
        "a new Ready serving pod",
        async () => {
          pod = (await pods(namespace, "app=embedder")).find(
            (candidate) =>
              !seen.has(candidate.metadata.name) &&
              candidate.metadata.deletionTimestamp === undefined &&
              isReady(candidate) &&
              readyAt.has(candidate.metadata.name),
          );
          return pod !== undefined;
        },
        240_000,
      );
      const name = pod!.metadata.name;
      seen.add(name);
      const serving = serverLogLines(namespace, name).find(
        (line) => line.msg === "model loaded and warmed up; serving",
      );
      expect(serving, `${name} logged that it serves`).toBeDefined();
      const readySince = Date.parse(
        pod!.status.conditions!.find((c) => c.type === "Ready")!.lastTransitionTime!,
      );
      // Ready no earlier than the second in which the server said it was serving.
      expect(readySince).toBeGreaterThanOrEqual(Math.floor(Number(serving!.time) / 1000) * 1000);
      expect(await healthServing(pod!.status.podIP!, "jude.embedding.v1.EmbeddingService")).toBe(true);
      const startedAt = Date.parse(pod!.status.containerStatuses![0]!.state.running!.startedAt);
      const delay = readyAt.get(name)! - Number(serving!.time);
      delays.push(delay);
      process.stderr.write(
        `serving pod ${start + 1}: container started -> serving ${Number(serving!.time) - startedAt} ms (startedAt has 1 s resolution), serving -> Ready seen by a watch ${delay} ms\n`,
      );
      await kubectl(["delete", "pod", name, "-n", namespace, "--wait=false"]);
    }
    process.stderr.write(`serving -> Ready seen by a watch, ms: ${delays.join(", ")}\n`);
  });
});

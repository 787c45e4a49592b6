import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../../pipelines/embedding-client/client.ts";
import { kubectl, kubectlJson } from "../../../support/kubectl.ts";
import { requireEnv } from "../../../support/env.ts";
import { runProbe } from "../../../testbed/local-nodes/probe-runner.ts";
import { eventually, isReady, localNodePrefix, pidOf, pods, apply, type Pod } from "./helpers.ts";
import {
  embedderDeployment,
  loopingClient,
  modelVolume,
  servingConfig,
  servingPort,
} from "./serving-manifests.ts";
import {
  clientFirstEmbedding,
  expectStoppedOnSigterm,
  serverLogLines,
  stopClient,
  withServingScenario,
} from "./serving-scenario.ts";

const namespace = `local-serving-${process.pid}`;
const token = `token-${process.pid}`;
const controlDir = mkdtempSync(join(tmpdir(), "jude-local-control-"));

interface Deployment {
  metadata: { generation: number };
  status: {
    observedGeneration?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    replicas?: number;
    conditions?: { type: string; status: string }[];
  };
}

const deployment = (): Promise<Deployment> =>
  kubectlJson<Deployment>(["get", "deployment", "embedder", "-n", namespace]);
const readyEmbedders = async (): Promise<Pod[]> =>
  (await pods(namespace, "app=embedder")).filter(
    (pod) => isReady(pod) && pod.metadata.deletionTimestamp === undefined,
  );
const serverLog = (pod: string): Record<string, unknown>[] => serverLogLines(namespace, pod);

/** The server's own count of inputs in flight, from its Prometheus endpoint. */
async function inFlight(ip: string): Promise<number> {
  const metrics = await (await fetch(`http://${ip}:8080/metrics`)).text();
  return Number(/^jude_serving_in_flight(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? Number.NaN);
}

async function grpcServing(ip: string): Promise<boolean> {
  const container = { name: "probe" };
  return runProbe(
    { grpc: { port: servingPort } },
    { podIP: ip, container, pid: 0, env: {}, user: undefined },
    2_000,
  );
}

describe("local nodes run a real `jude serve` Deployment", () => {
  withServingScenario(namespace, controlDir);
  beforeAll(async () => {
    await apply(
      ...modelVolume(namespace, requireEnv("JUDE_MODEL_DIR")),
      ...servingConfig(namespace, token),
      ...embedderDeployment(namespace, 2, "v1"),
    );
  });

  it("becomes Available with 2 real processes only after the gRPC health probe passes", async () => {
    await eventually("2 available replicas", async () => (await deployment()).status.availableReplicas === 2);
    const ready = await readyEmbedders();
    expect(ready).toHaveLength(2);
    for (const pod of ready) {
      expect(pod.spec.nodeName).toBe(`${localNodePrefix}local-gpu-0`);
      expect(await grpcServing(pod.status.podIP!)).toBe(true);
      const pid = pidOf(pod.status.containerStatuses?.[0]);
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain(
        "cli/jude.ts\0serve\0--config\0/etc/jude/config.yaml",
      );
      // Ready turned True no earlier than the second in which the server said it was serving.
      const serving = serverLog(pod.metadata.name).find(
        (line) => line.msg === "model loaded and warmed up; serving",
      );
      expect(serving).toBeDefined();
      const readySince = Date.parse(
        pod.status.conditions!.find((c) => c.type === "Ready")!.lastTransitionTime!,
      );
      expect(readySince).toBeGreaterThanOrEqual(Math.floor(Number(serving!.time) / 1000) * 1000);
    }
    expect(new Set(ready.map((pod) => pod.status.podIP)).size).toBe(2);
  });

  it("serves a client in another pod through the Service name", async () => {
    await apply(loopingClient(namespace, controlDir));
    await clientFirstEmbedding(namespace);
  });

  it("scales to 3 by starting a third real process", async () => {
    await kubectl(["scale", "deployment", "embedder", "-n", namespace, "--replicas=3"]);
    await eventually("3 ready replicas", async () => (await readyEmbedders()).length === 3);
    const pids = (await readyEmbedders()).map((pod) => pidOf(pod.status.containerStatuses?.[0]));
    expect(new Set(pids).size).toBe(3);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(true);
  });

  it("rolls out a changed config hash one process at a time with zero failed client calls", async () => {
    const before = new Set((await readyEmbedders()).map((pod) => pod.metadata.name));
    await kubectl([
      "patch",
      "deployment",
      "embedder",
      "-n",
      namespace,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { template: { metadata: { annotations: { "jude.dev/config-hash": "v2" } } } } }),
    ]);
    await eventually(
      "the rollout to finish",
      async () => {
        const current = await deployment();
        const all = await pods(namespace, "app=embedder");
        return (
          current.status.observedGeneration === current.metadata.generation &&
          current.status.updatedReplicas === 3 &&
          current.status.availableReplicas === 3 &&
          current.status.replicas === 3 &&
          all.length === 3 &&
          all.every((pod) => !before.has(pod.metadata.name))
        );
      },
      420_000,
    );
    const summary = await stopClient(namespace, controlDir);
    expect(summary.failed).toBe(0);
    expect(summary.ok).toBeGreaterThan(0);
  }, 600_000);

  it("drains a deleted pod: SIGTERM, in-flight calls complete", async () => {
    const [victim] = await readyEmbedders();
    const client = new EmbeddingClient({
      address: `${victim!.status.podIP}:${servingPort}`,
      token,
      deadlineMs: 60_000,
    });
    const texts = Array.from({ length: 128 }, (_, index) => `sentence ${index} `.repeat(30));
    await client.embed(["warm the connection"]);
    // One call of 128 long inputs: admitted at once (128 permits, held until it answers), and
    // seconds of work, so it is in flight when SIGTERM arrives.
    const call = client.embed(texts);
    await eventually("the call in flight", async () => (await inFlight(victim!.status.podIP!)) === 128);
    await kubectl(["delete", "pod", victim!.metadata.name, "-n", namespace, "--wait=false"]);
    const answer = await call;
    client.close();
    expect(answer.vectors).toHaveLength(128);
    await eventually("the pod to be gone", async () =>
      (await pods(namespace, "app=embedder")).every((pod) => pod.metadata.uid !== victim!.metadata.uid),
    );
    const lines = expectStoppedOnSigterm(namespace, victim!.metadata.name);
    expect(Number(lines.find((line) => line.msg === "draining")?.inFlight)).toBeGreaterThan(0);
  }, 300_000);
});

// Two real `jude operator` processes against the testbed's API server: exactly one holds the Lease and
// reconciles; when it is killed (no release), the standby waits out the Lease and takes over; when the
// leader stops gracefully it releases the Lease and the standby takes over at once. Whoever leads
// reconciles what is applied.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../testbed/ports.ts";
import { probe } from "../../testbed/http-probe.ts";
import { waitFor } from "../../testbed/wait.ts";
import { requireEnv } from "../../support/env.ts";
import { startJude, stopJude, waitReady, type JudeProcess } from "../../support/processes.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import {
  apply,
  condition,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  type Json,
} from "./operator-harness.ts";

const namespace = `operator-le-${process.pid}`;
const leaseSeconds = 6;

interface Replica {
  identity: string;
  port: number;
  process: JudeProcess;
}

async function startReplica(identity: string): Promise<Replica> {
  const port = await freePort();
  const process = startJude(`operator-${identity}`, [
    "operator",
    `--kubeconfig=${requireEnv("KUBECONFIG")}`,
    `--namespaces=${namespace}`,
    `--lease-namespace=${namespace}`,
    `--identity=${identity}`,
    `--lease-duration-seconds=${leaseSeconds}`,
    "--renew-deadline-seconds=4",
    "--retry-period-seconds=1",
    "--http-host=127.0.0.1",
    `--http-port=${port}`,
  ]);
  await waitReady(process, port);
  return { identity, port, process };
}

async function lease(): Promise<{
  holderIdentity?: string;
  leaseTransitions?: number;
  renewTime?: string;
  acquireTime?: string;
}> {
  return ((await kubectlJson<Json>(["get", "lease", "jude-operator", "-n", namespace])).spec ?? {}) as never;
}

async function leaderGauge(replica: Replica): Promise<number> {
  const text = (await probe(`http://127.0.0.1:${replica.port}/metrics`)).body;
  return Number(/^jude_operator_leader (\d+)/m.exec(text)?.[1] ?? "NaN");
}

function cpuModel(name: string): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name, namespace },
    spec: {
      version: "v1",
      model: { uri: "file:///opt/models/minilm/model.onnx", dimensions: 384 },
      prompts: { query: "q: {{text}}" },
      serving: { replicas: 1 },
    },
  };
}

async function waitReadyModel(name: string): Promise<void> {
  await waitFor(
    `embeddingmodel ${name} Ready`,
    async () => condition(await getObject(`embeddingmodel/${name}`, namespace), "Ready")?.status === "True",
    { timeoutMs: 90_000 },
  );
}

describe("leader election between two operator processes", () => {
  const replicas: Replica[] = [];

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    replicas.push(await startReplica("replica-a"), await startReplica("replica-b"));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => stopJude(replica.process)));
    await deleteNamespace(namespace);
  });

  it("elects exactly one leader, which reconciles", async () => {
    await waitFor("a Lease holder", async () => (await lease()).holderIdentity !== undefined);
    const holder = (await lease()).holderIdentity;
    const leader = replicas.find((replica) => replica.identity === holder) as Replica;
    const standby = replicas.find((replica) => replica.identity !== holder) as Replica;
    await waitFor("the leader's gauge", async () => (await leaderGauge(leader)) === 1);
    expect(await leaderGauge(standby)).toBe(0);
    // The standby is ready too (it must not be restarted for waiting), but it watches nothing.
    expect((await probe(`http://127.0.0.1:${standby.port}/readyz`)).status).toBe(200);
    await apply([cpuModel("first")]);
    await waitReadyModel("first");
  });

  it("fails over to the standby after the killed leader's Lease runs out", async () => {
    const before = await lease();
    const leader = replicas.find((replica) => replica.identity === before.holderIdentity) as Replica;
    const standby = replicas.find((replica) => replica.identity !== before.holderIdentity) as Replica;
    const killedAt = Date.now();
    await stopJude(leader.process, "SIGKILL");
    await waitFor(
      "the standby to take the Lease",
      async () => (await lease()).holderIdentity === standby.identity,
      { timeoutMs: 60_000 },
    );
    const failoverSeconds = (Date.now() - killedAt) / 1000;
    const after = await lease();
    expect(after.leaseTransitions).toBe((before.leaseTransitions ?? 0) + 1);
    // The standby honoured the Lease: it took it no earlier than a full lease duration after the
    // last renewal it saw (its own clock, so this compares two times written by the API's clients).
    const waitedMs = Date.parse(after.acquireTime ?? "") - Date.parse(before.renewTime ?? "");
    expect(waitedMs).toBeGreaterThanOrEqual(leaseSeconds * 1000 - 1000);
    console.error(
      `[leader-election] failover after SIGKILL took ${failoverSeconds.toFixed(1)} s (lease ${leaseSeconds} s)`,
    );
    await waitFor("the new leader's gauge", async () => (await leaderGauge(standby)) === 1);
    await apply([cpuModel("second")]);
    await waitReadyModel("second");
    replicas.splice(replicas.indexOf(leader), 1);
  });

  it("hands the Lease over at once when the leader stops gracefully", async () => {
    const newcomer = await startReplica("replica-c");
    replicas.push(newcomer);
    const leader = replicas.find((replica) => replica.identity !== "replica-c") as Replica;
    expect(await stopJude(leader.process, "SIGTERM")).toBe(0);
    const released = await lease();
    // A released Lease names no holder (or already the newcomer, which may have been quick).
    expect([undefined, null, "", "replica-c"]).toContain(released.holderIdentity);
    await waitFor(
      "the newcomer to take the released Lease",
      async () => (await lease()).holderIdentity === "replica-c",
      { timeoutMs: 30_000 },
    );
    replicas.splice(replicas.indexOf(leader), 1);
    await apply([cpuModel("third")]);
    await waitReadyModel("third");
  });
});

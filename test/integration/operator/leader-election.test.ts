// Two real `jude operator` processes against the testbed's API server: exactly one holds the Lease and
// reconciles; when it is killed (no release), the standby waits out the Lease and takes over; when the
// leader stops gracefully it releases the Lease and the standby takes over at once; a leader whose
// connection to the API server hangs stops leading within its renew deadline. Whoever leads
// reconciles what is applied. In-process managers: a leader that drains on SIGTERM keeps renewing the
// Lease until its reconciles finished and then releases it; one that loses the Lease, running or
// draining, aborts its reconciles and writes nothing more.
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Manager } from "../../../operator/runtime/manager.ts";
import { resourceTypes, type ResourceType } from "../../../operator/runtime/resource-types.ts";
import { silentLogger } from "../../../plumbing/logger.ts";
import { freePort } from "../../testbed/ports.ts";
import { probe } from "../../testbed/http-probe.ts";
import { waitFor } from "../../testbed/wait.ts";
import { requireEnv } from "../../support/env.ts";
import { startJude, stopJude, waitReady, type JudeProcess } from "../../support/processes.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { apiServerAddress, kubeconfigThrough, startTcpLink, type TcpLink } from "../../support/tcp-link.ts";
import {
  apply,
  condition,
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  getObject,
  installCrds,
  type Json,
} from "./operator-harness.ts";

const namespace = `operator-le-${process.pid}`;
const leaseSeconds = 6;
const renewDeadlineSeconds = 4;

interface Replica {
  identity: string;
  port: number;
  process: JudeProcess;
}

async function startReplica(
  identity: string,
  kubeconfig = requireEnv("KUBECONFIG"),
  extraArgs: string[] = [],
): Promise<Replica> {
  const port = await freePort();
  const process = startJude(`operator-${identity}`, [
    "operator",
    `--kubeconfig=${kubeconfig}`,
    `--namespaces=${namespace}`,
    `--lease-namespace=${namespace}`,
    `--identity=${identity}`,
    `--lease-duration-seconds=${leaseSeconds}`,
    `--renew-deadline-seconds=${renewDeadlineSeconds}`,
    "--retry-period-seconds=1",
    "--http-host=127.0.0.1",
    `--http-port=${port}`,
    ...extraArgs,
  ]);
  await waitReady(process, port);
  return { identity, port, process };
}

async function lease(
  name = "jude-operator",
  leaseNamespace = namespace,
): Promise<{
  holderIdentity?: string;
  leaseTransitions?: number;
  renewTime?: string;
  acquireTime?: string;
}> {
  return ((await kubectlJson<Json>(["get", "lease", name, "-n", leaseNamespace])).spec ?? {}) as never;
}

async function leaderGauge(replica: Replica): Promise<number> {
  const text = (await probe(`http://127.0.0.1:${replica.port}/metrics`)).body;
  return Number(/^jude_operator_leader (\d+)/m.exec(text)?.[1] ?? "NaN");
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
    await apply([cpuModel(namespace, "first", { replicas: 1 })]);
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
    await apply([cpuModel(namespace, "second", { replicas: 1 })]);
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
    await apply([cpuModel(namespace, "third", { replicas: 1 })]);
    await waitReadyModel("third");
  });

  it("stops leading within the renew deadline when its API connection hangs", async () => {
    const link: TcpLink = await startTcpLink(apiServerAddress(requireEnv("KUBECONFIG")));
    try {
      const cutOff = await startReplica("replica-d", kubeconfigThrough(requireEnv("KUBECONFIG"), link.port), [
        "--drain-seconds=5",
      ]);
      replicas.push(cutOff);
      const leader = replicas.find((replica) => replica.identity === "replica-c") as Replica;
      expect(await stopJude(leader.process, "SIGTERM")).toBe(0);
      replicas.splice(replicas.indexOf(leader), 1);
      await waitFor("replica-d to lead", async () => (await leaderGauge(cutOff)) === 1, {
        timeoutMs: 30_000,
      });
      const standby = await startReplica("replica-e");
      replicas.push(standby);
      let exitCode: number | null | undefined;
      void cutOff.process.exited.then((code) => (exitCode = code));
      // Requests in flight and new ones hang: no error, no reset, as behind a partition.
      link.freeze();
      const frozenAt = Date.now();
      await waitFor(
        "the cut-off leader to stop leading",
        async () =>
          (await probe(`http://127.0.0.1:${cutOff.port}/readyz`)).status !== 200 || exitCode !== undefined,
        { timeoutMs: (renewDeadlineSeconds + 6) * 1000, intervalMs: 200 },
      );
      console.error(
        `[leader-election] a leader cut off stopped leading after ${((Date.now() - frozenAt) / 1000).toFixed(1)} s (renew deadline ${renewDeadlineSeconds} s)`,
      );
      // It exits 1 (restarted as a standby) without waiting for the hung connection.
      await waitFor("the cut-off leader to exit", async () => exitCode !== undefined, { timeoutMs: 20_000 });
      expect(exitCode).toBe(1);
      replicas.splice(replicas.indexOf(cutOff), 1);
      await waitFor(
        "the standby to take the Lease",
        async () => (await lease()).holderIdentity === standby.identity,
        { timeoutMs: 30_000 },
      );
      await apply([cpuModel(namespace, "fourth", { replicas: 1 })]);
      await waitReadyModel("fourth");
    } finally {
      await link.close();
    }
  });
});

describe("leader election while the informers sync", () => {
  const syncNamespace = `${namespace}-sync`;
  const leaseName = "jude-operator-sync";
  const leaseMs = 3_000;
  const syncLease = () => lease(leaseName, syncNamespace);
  // A collection the API server does not serve: its informer never completes the first list, like
  // a cluster whose initial list takes longer than the Lease lasts.
  const unserved: ResourceType = {
    group: "jude.dev",
    version: "v1alpha1",
    kind: "Unserved",
    plural: "unserveds",
    namespaced: true,
  };
  const running: { stop: () => Promise<unknown> }[] = [];

  function startManager(identity: string): void {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
    const manager = new Manager({
      kubeConfig,
      namespaces: [syncNamespace],
      log: silentLogger(),
      http: { host: "127.0.0.1", port: 0 },
      leaderElection: {
        namespace: syncNamespace,
        name: leaseName,
        identity,
        leaseDurationMs: leaseMs,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 500,
      },
      watchStaleMs: 300_000,
      drainMs: 1_000,
    });
    manager.add({ name: "never-synced", primary: unserved, reconcile: async () => undefined });
    const abort = new AbortController();
    const run = manager.run(abort.signal).catch((error: unknown) => error);
    running.push({ stop: () => (abort.abort(), run) });
  }

  beforeAll(async () => {
    await createRestrictedNamespace(syncNamespace);
  });

  afterAll(async () => {
    await Promise.all(running.map((manager) => manager.stop()));
    await deleteNamespace(syncNamespace);
  });

  it("keeps renewing the Lease before its informers have synced", async () => {
    startManager("sync-a");
    await waitFor("sync-a to hold the Lease", async () => (await syncLease()).holderIdentity === "sync-a");
    const first = (await syncLease()).renewTime;
    await waitFor(
      "sync-a to renew the Lease while syncing",
      async () => (await syncLease()).renewTime !== first,
      { timeoutMs: 2 * leaseMs },
    );
    // A standby that watched the Lease for longer than it lasts still finds it held.
    startManager("sync-b");
    await sleep(2 * leaseMs);
    expect((await syncLease()).holderIdentity).toBe("sync-a");
  });
});

describe("leader election while the leader drains", () => {
  const drainNamespace = `${namespace}-drain`;
  const leaseMs = 3_000;
  const renewDeadlineMs = 2_000;
  const running: { stop: () => Promise<unknown> }[] = [];
  const writtenBy = "jude.dev/written-by";

  /**
   * A reconcile of one ConfigMap that waits until the test opens it (or its signal aborts) and then
   * writes an annotation: work in progress when the drain begins, whose write must only land while
   * its replica still holds the Lease.
   */
  interface HeldReconcile {
    started: PromiseWithResolvers<void>;
    aborted: PromiseWithResolvers<void>;
    open: PromiseWithResolvers<void>;
    /** "written", or "refused: <reason>". */
    outcome: PromiseWithResolvers<string>;
    /** The process "stops" this long (a synchronous wait: no timer runs) before the write. */
    stopMs?: number;
  }
  /** By "identity/name": every manager here watches the same ConfigMaps. */
  const held = new Map<string, HeldReconcile>();
  const everyHeld: HeldReconcile[] = [];

  function holdReconcile(identity: string, name: string): HeldReconcile {
    const reconcile = {
      started: Promise.withResolvers<void>(),
      aborted: Promise.withResolvers<void>(),
      open: Promise.withResolvers<void>(),
      outcome: Promise.withResolvers<string>(),
    };
    held.set(`${identity}/${name}`, reconcile);
    everyHeld.push(reconcile);
    return reconcile;
  }

  function startDrainManager(
    identity: string,
    leaseName: string,
  ): { run: Promise<unknown>; abort: () => void } {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(requireEnv("KUBECONFIG"));
    const manager = new Manager({
      kubeConfig,
      namespaces: [drainNamespace],
      log: silentLogger(),
      http: { host: "127.0.0.1", port: 0 },
      leaderElection: {
        namespace: drainNamespace,
        name: leaseName,
        identity,
        leaseDurationMs: leaseMs,
        renewDeadlineMs,
        retryPeriodMs: 500,
      },
      watchStaleMs: 300_000,
      drainMs: 20_000,
    });
    manager.add({
      name: "held",
      primary: resourceTypes.configMap,
      reconcile: async ({ key, signal, client }) => {
        const reconcile = held.get(`${identity}/${key.name}`);
        if (reconcile === undefined) return;
        held.delete(`${identity}/${key.name}`);
        reconcile.started.resolve();
        if (signal.aborted) reconcile.aborted.resolve();
        signal.addEventListener("abort", () => reconcile.aborted.resolve(), { once: true });
        await reconcile.open.promise;
        if (reconcile.stopMs !== undefined) {
          // As a SIGSTOP: the clocks run on, nothing of this process runs meanwhile.
          const until = performance.now() + reconcile.stopMs;
          while (performance.now() < until);
        }
        try {
          await client.apply({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: key.name, namespace: key.namespace, annotations: { [writtenBy]: identity } },
          });
          reconcile.outcome.resolve("written");
        } catch (error) {
          reconcile.outcome.resolve(`refused: ${(error as Error).message}`);
          throw error;
        }
      },
    });
    const abort = new AbortController();
    const run = manager.run(abort.signal).catch((error: unknown) => error);
    running.push({ stop: () => (abort.abort(), run) });
    return { run, abort: () => abort.abort(new Error("SIGTERM (test)")) };
  }

  const drainLease = (leaseName: string) => lease(leaseName, drainNamespace);

  /**
   * `identity` leading the Lease `leaseName` with a reconcile in hand: the one of a new ConfigMap of
   * that name, started and held until the test opens it.
   */
  async function leaderWithHeldReconcile(
    identity: string,
    leaseName: string,
  ): Promise<{ leader: ReturnType<typeof startDrainManager>; reconcile: HeldReconcile }> {
    const leader = startDrainManager(identity, leaseName);
    await waitFor(
      `${identity} to lead`,
      async () => (await drainLease(leaseName)).holderIdentity === identity,
    );
    const reconcile = holdReconcile(identity, leaseName);
    await createConfigMap(leaseName);
    await reconcile.started.promise;
    return { leader, reconcile };
  }

  async function createConfigMap(name: string): Promise<void> {
    await kubectl(["create", "configmap", name, "-n", drainNamespace]);
  }

  async function annotationOf(name: string): Promise<string | undefined> {
    const object = await kubectlJson<Json>(["get", "configmap", name, "-n", drainNamespace]);
    return (object.metadata as { annotations?: Record<string, string> }).annotations?.[writtenBy];
  }

  /**
   * Another party takes the Lease over (as a standby would after a missed renewal). One merge patch,
   * applied by the API server to the Lease as it is: a read and then a replace with that read's
   * resourceVersion lost to the leader's renewal every 500 ms whenever the two kubectl calls took
   * longer than that (a loaded machine), and timed out on 409 Conflicts. The leader renews with its
   * resourceVersion, so a renewal read before the patch is refused and cannot undo it.
   */
  async function stealLease(leaseName: string): Promise<void> {
    const renewTime = new Date().toISOString().replace(/Z$/, "000Z");
    const spec = {
      holderIdentity: "intruder",
      leaseDurationSeconds: 3600,
      renewTime,
      acquireTime: renewTime,
    };
    await kubectl([
      "patch",
      "lease",
      leaseName,
      "-n",
      drainNamespace,
      "--type=merge",
      "-p",
      JSON.stringify({ spec }),
    ]);
  }

  beforeAll(async () => {
    await createRestrictedNamespace(drainNamespace);
  });

  afterAll(async () => {
    for (const reconcile of everyHeld) reconcile.open.resolve();
    await Promise.all(running.map((manager) => manager.stop()));
    await deleteNamespace(drainNamespace);
  });

  it("keeps renewing the Lease while reconciles drain, then releases it", async () => {
    const leaseName = "handover";
    const { leader, reconcile } = await leaderWithHeldReconcile("drain-a", leaseName);
    startDrainManager("drain-b", leaseName);
    leader.abort();
    // For three Lease durations of drain the draining leader keeps the Lease fresh, so the standby,
    // which polls it twice a second, never takes it: a second writer would overlap the reconcile.
    const holders = new Set<string | undefined>();
    const renewTimes = new Set<string | undefined>();
    for (const until = Date.now() + 3 * leaseMs; Date.now() < until; await sleep(250)) {
      const current = await drainLease(leaseName);
      holders.add(current.holderIdentity);
      renewTimes.add(current.renewTime);
    }
    expect([...holders]).toEqual(["drain-a"]);
    expect(renewTimes.size).toBeGreaterThan(1);
    reconcile.open.resolve();
    expect(await reconcile.outcome.promise).toBe("written");
    expect(await leader.run).toBeUndefined();
    // Released right after the drain (no holder, or already the standby, which may have been quick).
    expect([undefined, null, "", "drain-b"]).toContain((await drainLease(leaseName)).holderIdentity);
    await waitFor(
      "drain-b to take the released Lease",
      async () => (await drainLease(leaseName)).holderIdentity === "drain-b",
    );
    expect(await annotationOf("handover")).toBe("drain-a");
  });

  it("writes nothing when it resumes from a stop longer than its Lease, before its renewal timer runs", async () => {
    // A leader stopped (SIGSTOP, a frozen VM, a long pause) mid-reconcile could have been replaced by
    // a standby meanwhile: its Lease ran out. When it runs again, its reconcile continues at once,
    // before the renewal timer can notice and abort it; the write must be refused all the same.
    const leaseName = "stopped";
    const identity = "stopped-a";
    const { leader, reconcile } = await leaderWithHeldReconcile(identity, leaseName);
    reconcile.stopMs = leaseMs + 500;
    reconcile.open.resolve();
    expect(await reconcile.outcome.promise).toMatch(/^refused: .*lost the leader lease/);
    expect(String(await leader.run)).toMatch(/lost the leader lease/);
    expect(await annotationOf(leaseName)).toBeUndefined();
  });

  it.each(["draining", "running"] as const)(
    "aborts its reconciles and writes nothing once the Lease is lost while %s",
    async (phase) => {
      const leaseName = `lost-${phase}`;
      const identity = `lost-${phase}-a`;
      const { leader, reconcile } = await leaderWithHeldReconcile(identity, leaseName);
      if (phase === "draining") leader.abort();
      await stealLease(leaseName);
      const abortedWithin = renewDeadlineMs + 5_000;
      const aborted = await Promise.race([
        reconcile.aborted.promise.then(() => true),
        sleep(abortedWithin).then(() => false),
      ]);
      expect(aborted, `the reconcile's signal aborted within ${abortedWithin} ms of the lost Lease`).toBe(
        true,
      );
      reconcile.open.resolve();
      expect(await reconcile.outcome.promise).toMatch(/^refused: .*lost the leader lease/);
      const outcome = await leader.run;
      if (phase === "running") expect(String(outcome)).toMatch(/lost the leader lease/);
      expect(await annotationOf(leaseName)).toBeUndefined();
      // The deposed leader leaves the new holder's Lease alone.
      expect((await drainLease(leaseName)).holderIdentity).toBe("intruder");
    },
  );
});

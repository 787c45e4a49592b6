// The JUDE CRDs deleted and installed again, or replaced, while the operator runs: what `helm uninstall`
// with `crds.keep=false` followed by a reinstall does, or an admin's `kubectl delete crd` / `kubectl
// replace`. It must never happen to the shared testbed (it deletes every test's JUDE objects), so this
// file starts its own bare etcd + kube-apiserver (no nodes: Deployments get no pods, which the
// EmbeddingModel controller does not need to write its status) and runs the real manager against it.
// The operator keeps running through the gap, says why on /readyz, backs off instead of spamming its
// log, holds no finalizer that would keep a CRD's deletion waiting, and reconciles again once the CRDs
// are back, without a restart; a deleted BootstrapRun CRD does not stop the other kinds. Under an older
// CRD that lacks a status field it writes (server-side apply refuses the whole write), the object's
// ReconcileError says to apply the release's CRDs.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { crdName } from "../../../crds/crd.ts";
import { generatedDir, kindDefinitions } from "../../../crds/generate.ts";
import { createRootLogger } from "../../../plumbing/logger.ts";
import { kubectlPath, startBareApiServer, type BareApiServer } from "../../testbed/components/kube.ts";
import { waitFor } from "../../testbed/wait.ts";
import { cpuModel, type Json, startInProcessOperator } from "./operator-harness.ts";

const run = promisify(execFile);
const namespace = "crd-faults";
const crdFiles = kindDefinitions.map((kind) => join(generatedDir, `${crdName(kind)}.yaml`));
const crdNames = kindDefinitions.map((kind) => crdName(kind));
const bootstrapRunCrd = crdNames.find((name) => name.startsWith("bootstrapruns."))!;

let server: BareApiServer | undefined;
let operator: ReturnType<typeof startInProcessOperator> | undefined;
const logLines: Json[] = [];
const leaseName = "jude-operator";
const identity = "crd-faults-replica";

/** Who holds the operator's Lease, and when it last renewed it. */
async function lease(): Promise<{ holder: string; renewTime: string }> {
  const object = JSON.parse(await k(["get", "lease", leaseName, "-n", namespace, "-o", "json"])) as {
    spec: { holderIdentity: string; renewTime: string };
  };
  return { holder: object.spec.holderIdentity, renewTime: object.spec.renewTime };
}

/** The informers /readyz reports on, by name. */
const informerNames = (body: string): string[] =>
  [...body.matchAll(/informer:(\S+)/g)].map((match) => match[1]!).sort();

/** kubectl against the private API server. */
async function k(args: string[], input?: string): Promise<string> {
  const child = run(kubectlPath(), ["--kubeconfig", server!.kubeconfig, ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
  if (input !== undefined) child.child.stdin?.end(input);
  return (await child).stdout;
}

async function applyCrds(): Promise<void> {
  await k([
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=helm",
    ...crdFiles.flatMap((f) => ["-f", f]),
  ]);
  await k(["wait", "--for=condition=Established", "--timeout=60s", ...crdNames.map((name) => `crd/${name}`)]);
}

async function createModel(name: string): Promise<void> {
  await k(["apply", "--server-side", "-f", "-"], JSON.stringify(cpuModel(namespace, name, { replicas: 1 })));
}

/** Sets the model's spec.serving.replicas (a new generation for the operator to reconcile). */
async function scaleModel(name: string, replicas: number): Promise<void> {
  await k([
    "patch",
    "embeddingmodel",
    name,
    "-n",
    namespace,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { serving: { replicas } } }),
  ]);
}

/** Waits until the operator wrote the status of the model's current generation. */
async function waitReconciled(name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `EmbeddingModel ${name} reconciled`,
    async () => {
      const model = JSON.parse(
        await k(["get", "embeddingmodel", name, "-n", namespace, "-o", "json"]),
      ) as Json;
      const status = model.status as Json | undefined;
      return status?.observedGeneration === (model.metadata as Json).generation;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

async function readyz(): Promise<{ status: number; body: string }> {
  const port = (operator!.manager.server!.address() as AddressInfo).port;
  const response = await fetch(`http://127.0.0.1:${port}/readyz?verbose`);
  return { status: response.status, body: await response.text() };
}

const listWatchFailures = (resource: string): number =>
  logLines.filter(
    (line) =>
      line.msg === "list/watch failed; retrying with back-off" && String(line.informer).includes(resource),
  ).length;

beforeAll(async () => {
  server = await startBareApiServer(mkdtempSync(join(tmpdir(), "jude-crd-faults-")));
  await applyCrds();
  await k(["create", "namespace", namespace]);
  operator = startInProcessOperator([namespace], {
    controllers: ["embedding-model", "nearline-pipeline", "bootstrap-run"],
    kubeconfigPath: server.kubeconfig,
    // Stale after 10 s without watch activity; a healthy watch reconnects every 3-6 s.
    watchStaleMs: 10_000,
    watchTimeoutSeconds: 3,
    reconcileErrorAfterMs: 3_000,
    leaderElection: {
      namespace,
      name: leaseName,
      identity,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    log: createRootLogger({
      component: "crd-faults",
      level: "info",
      env: {},
      destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Json) },
    }),
  });
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await server?.stop();
}, 60_000);

describe("JUDE CRDs deleted, re-created or replaced while the operator runs", () => {
  let informersBefore: string[] = [];

  it("reconciles an EmbeddingModel on the private API server", async () => {
    await createModel("first");
    await waitReconciled("first");
    await waitFor("/readyz ready", async () => (await readyz()).status === 200);
    informersBefore = informerNames((await readyz()).body);
    expect(informersBefore.length).toBeGreaterThan(3);
  });

  it("keeps reconciling EmbeddingModels while the BootstrapRun CRD alone is gone", async () => {
    await k(["delete", "crd", bootstrapRunCrd, "--timeout=60s"]);
    await createModel("second");
    await waitReconciled("second");
    await applyCrds();
  });

  it("survives all CRDs deleted with objects in place and reconciles again once they are back", async () => {
    const before = logLines.length;
    const leaseBefore = await lease();
    // Completes: no finalizer of the operator's holds the instances (and so the CRDs) back.
    await k(["delete", "crd", ...crdNames, "--timeout=60s"]);
    expect((await k(["get", "crd", "-o", "name"])).trim()).toBe("");

    await waitFor(
      "/readyz names the missing resources",
      async () => {
        const { status, body } = await readyz();
        return (
          status !== 200 &&
          /\[-\]informer:embeddingmodels\.jude\.dev\/crd-faults .*embeddingmodels: 404/.test(body)
        );
      },
      { timeoutMs: 40_000, intervalMs: 500 },
    );
    const failuresInGap = listWatchFailures("embeddingmodels");
    // Still the leader, still renewing: the Lease is no CRD.
    const leaseInGap = await lease();
    expect(leaseInGap.holder).toBe(identity);
    expect(leaseInGap.renewTime).not.toBe(leaseBefore.renewTime);

    await applyCrds();
    await createModel("third");
    // The informers' back-off is capped at 30 s: the next list/watch within it finds the CRD again.
    await waitReconciled("third", 60_000);
    // Answered at all: the manager still runs (a stopped one closes its health server).
    await waitFor("/readyz ready again", async () => (await readyz()).status === 200, { timeoutMs: 30_000 });
    // The same informers as before (none added for the new CRDs, none lost).
    expect(informerNames((await readyz()).body)).toEqual(informersBefore);
    // A model re-created under an earlier name takes over the children its predecessor left (the
    // garbage collector, absent here, would otherwise delete them with their old owner).
    await createModel("first");
    await waitReconciled("first");
    const uid = (
      await k(["get", "embeddingmodel", "first", "-n", namespace, "-o", "jsonpath={.metadata.uid}"])
    ).trim();
    const owners = await k([
      "get",
      "deployment",
      "first-v1",
      "-n",
      namespace,
      "-o",
      "jsonpath={.metadata.ownerReferences[*].uid}",
    ]);
    expect(owners.trim()).toBe(uid);
    // Backed off, not a tight loop: a handful of warnings per informer over the gap.
    expect(failuresInGap).toBeGreaterThan(0);
    expect(failuresInGap).toBeLessThan(15);
    expect(logLines.slice(before).filter((line) => line.level === 60 || line.level === 50)).toEqual([]);
  }, 150_000);

  it("reconciles as before after the CRDs are replaced (kubectl replace) with objects in place", async () => {
    await k(["replace", ...crdFiles.flatMap((f) => ["-f", f])]);
    await scaleModel("third", 2);
    await waitReconciled("third");
    const deployment = JSON.parse(
      await k(["get", "deployments", "-n", namespace, "-l", "jude.dev/model=third", "-o", "json"]),
    ) as { items: { spec: { replicas?: number } }[] };
    expect(deployment.items.map((item) => item.spec.replicas)).toContain(2);
  });

  it("under an older CRD that lacks a status field it writes, names the remedy and catches up once the CRD is current", async () => {
    // The CRDs of a release before status.versions[].endpoint and readyReplicas, left in place when the
    // operator was upgraded (crds.install=false and the new CRDs not applied, or applied before a
    // rollback of the chart alone): a server-side apply of a field the schema does not declare is
    // refused whole (500 "field not declared in schema"), so no status write of the model succeeds.
    const older = parse(
      readFileSync(
        crdFiles.find((file) => file.includes("embeddingmodels."))!,
        "utf8",
      ),
    ) as { spec: { versions: { schema: { openAPIV3Schema: { properties: { status: Json } } } }[] } };
    const status = older.spec.versions[0]!.schema.openAPIV3Schema.properties.status as {
      properties: { versions: { items: { properties: Json } } };
    };
    expect(Object.keys(status.properties.versions.items.properties)).toContain("endpoint");
    delete status.properties.versions.items.properties.endpoint;
    delete status.properties.versions.items.properties.readyReplicas;
    await k(
      ["apply", "--server-side", "--force-conflicts", "--field-manager=helm", "-f", "-"],
      JSON.stringify(older),
    );
    await scaleModel("third", 3);
    // The workloads still follow the spec: only the status is refused.
    await waitFor(
      "the Deployment scaled to 3",
      async () =>
        (
          await k(["get", "deployment", "third-v1", "-n", namespace, "-o", "jsonpath={.spec.replicas}"])
        ).trim() === "3",
    );
    // Told on the object (the ReconcileError verdict keeps the stored status, which the CRD accepts),
    // naming what to do.
    await waitFor(
      "third Stalled with ReconcileError naming the older CRD",
      async () => {
        const model = JSON.parse(
          await k(["get", "embeddingmodel", "third", "-n", namespace, "-o", "json"]),
        ) as Json;
        const stalled = ((model.status as Json).conditions as Json[]).find((c) => c.type === "Stalled");
        return (
          stalled?.reason === "ReconcileError" &&
          /an older CRD: apply the CRDs of the operator's release/.test(String(stalled.message))
        );
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    await applyCrds();
    await waitReconciled("third");
  }, 120_000);
});

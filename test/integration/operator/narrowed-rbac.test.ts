// An operator whose RBAC a user narrowed: in one of its two namespaces its Role lacks `patch` on
// Deployments (the chart's rules otherwise), against the testbed's real API server with the controllers
// in-process. The other namespace is reconciled as usual; the model in the narrowed one turns Stalled
// with reason ReconcileError and a message naming the refused verb and resource, instead of the
// operator crashing or stalling silently. And an operator whose Role loses list and watch on
// Deployments while it runs: its Deployments' cache can no longer follow the cluster, and once the
// informer has been silent for --watch-stale-seconds /readyz fails naming the API server's refusal.
// And an operator that may not list Deployments in one namespace from the start: the model there is
// not reconciled, and says so on itself (Stalled, ReconcileError, a Warning Event) once, until the
// Role allows the list and the model is reconciled. And an operator that listed Deployments and then
// may not: the model says so in the same way, rather than being reconciled from a cache that no longer
// follows the cluster, and once the list is allowed again it is reconciled from a fresh list (a
// Deployment deleted meanwhile is created again). And one whose Role keeps list but loses watch: the
// model is held back the same way, and /readyz keeps naming the refused watch.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { serverPort } from "../../../operator/runtime/health-server.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  apply,
  clusterRole,
  condition,
  cpuModel,
  getObject,
  type Json,
  type Listed,
  listObjects,
  useOperatorWithRbac,
} from "./operator-harness.ts";

const full = `narrowed-full-${process.pid}`;
const narrowed = `narrowed-nopatch-${process.pid}`;
const role = `jude-narrowed-test-${process.pid}`;

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The chart's controller rules (charts/jude-operator/templates/rbac.yaml). */
function chartRules(): Rule[] {
  const template = readFileSync(
    join(import.meta.dirname, "../../../charts/jude-operator/templates/rbac.yaml"),
    "utf8",
  );
  const body = /\{\{- define "jude-operator\.rules" -\}\}\n([\s\S]*?)\{\{- end -\}\}/.exec(template)![1]!;
  return parse(body) as Rule[];
}

/** `rules` without `verbs` on `resource` (deployments, horizontalpodautoscalers, ...). */
function withoutVerbs(rules: Rule[], resource: string, ...verbs: string[]): Rule[] {
  return rules.map((rule) =>
    rule.resources.includes(resource)
      ? { ...rule, verbs: rule.verbs.filter((verb) => !verbs.includes(verb)) }
      : rule,
  );
}

/** Waits until the operator created a Deployment of the model in `namespace`. */
async function untilModelDeployed(namespace: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `a Deployment of the model in ${namespace}`,
    async () =>
      (await listObjects("deployments", namespace, "app.kubernetes.io/managed-by=jude-operator")).length > 0,
    { timeoutMs },
  );
}

/** Waits until the model in `namespace` is Stalled. */
async function untilModelStalled(namespace: string, timeoutMs: number): Promise<void> {
  await waitFor(
    `the model in ${namespace} Stalled`,
    async () => condition(await getObject("embeddingmodel/minilm", namespace), "Stalled")?.status === "True",
    { timeoutMs },
  );
}

/** The Warning Events with reason ReconcileError of the model in `namespace`. */
async function reconcileErrorEvents(namespace: string): Promise<Json[]> {
  const events = await kubectlJson<Listed>([
    "get",
    "events",
    "-n",
    namespace,
    "--field-selector",
    "involvedObject.kind=EmbeddingModel,involvedObject.name=minilm,reason=ReconcileError,type=Warning",
  ]);
  return events.items;
}

describe("an operator whose Role lacks patch on Deployments in one namespace", () => {
  useOperatorWithRbac({
    name: role,
    namespaces: [full, narrowed],
    clusterRoles: {
      [role]: chartRules(),
      [`${role}-nopatch`]: withoutVerbs(chartRules(), "deployments", "patch"),
    },
    roleBindings: { [full]: role, [narrowed]: `${role}-nopatch` },
    objects: [cpuModel(full, "minilm", { replicas: 1 }), cpuModel(narrowed, "minilm", { replicas: 1 })],
    // Told after 10 s of failing rather than the operator's 60 s, which with its back-off could
    // leave the model unreported past the test's time limit on a loaded machine.
    settings: { reconcileErrorAfterMs: 10_000 },
  });

  it("reconciles the namespace it may write, and says which permission the other lacks", async () => {
    await untilModelDeployed(full);
    await untilModelStalled(narrowed, 90_000);
    const stalled = condition(await getObject("embeddingmodel/minilm", narrowed), "Stalled")!;
    expect(stalled.reason).toBe("ReconcileError");
    expect(stalled.message).toMatch(/cannot patch resource "deployments" in API group "apps"/);
    expect(condition(await getObject("embeddingmodel/minilm", full), "Stalled")?.reason).not.toBe(
      "ReconcileError",
    );
  });
});

describe("an operator whose Role loses list and watch on Deployments while it runs", () => {
  const namespace = `narrowed-revoked-${process.pid}`;
  const revokedRole = `${role}-revoked`;
  const operator = useOperatorWithRbac({
    name: revokedRole,
    namespaces: [namespace],
    clusterRoles: { [revokedRole]: chartRules() },
    roleBindings: { [namespace]: revokedRole },
    objects: [cpuModel(namespace, "minilm", { replicas: 1 })],
    // Watches of 10..20 s: the one open when the Role is narrowed ends soon, and the next is refused.
    settings: { watchStaleMs: 10_000, watchTimeoutSeconds: 10 },
  });

  it("names the refused watch on /readyz once the informer is stale", async () => {
    await untilModelDeployed(namespace);
    await apply([clusterRole(revokedRole, withoutVerbs(chartRules(), "deployments", "list", "watch"))]);
    // The open watch goes on until its server-side timeout (10..20 s here); the next one is refused.
    const server = operator().manager.server!;
    let body = "";
    await waitFor(
      "/readyz naming the refused Deployments watch",
      async () => {
        const readyz = await fetch(`http://127.0.0.1:${serverPort(server)}/readyz`);
        body = await readyz.text();
        const line = body
          .split("\n")
          .find((entry) => entry.startsWith(`[-]informer:deployments.apps/${namespace} `));
        return readyz.status === 503 && line?.includes("forbidden") === true;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    ).catch(() => undefined);
    expect(body).toMatch(
      new RegExp(
        `\\[-\\]informer:deployments\\.apps/${namespace} no successful watch activity for \\d+ s \\(limit 10 s\\): .*cannot (list|watch) resource "deployments"`,
      ),
    );
  });
});

describe("an operator whose Role lacks list and watch on Deployments in one namespace", () => {
  const allowed = `narrowed-listed-${process.pid}`;
  const unlisted = `narrowed-nolist-${process.pid}`;
  const unlistedRole = `${role}-nolist`;
  const operator = useOperatorWithRbac({
    name: unlistedRole,
    namespaces: [allowed, unlisted],
    clusterRoles: {
      [unlistedRole]: chartRules(),
      [`${unlistedRole}-narrow`]: withoutVerbs(chartRules(), "deployments", "list", "watch"),
    },
    roleBindings: { [allowed]: unlistedRole, [unlisted]: `${unlistedRole}-narrow` },
    objects: [cpuModel(allowed, "minilm", { replicas: 1 }), cpuModel(unlisted, "minilm", { replicas: 1 })],
  });

  /** The embedding-model controller's deferred reconciles so far. */
  const deferred = async (): Promise<number> =>
    (
      (await operator().manager.metrics.registry.getSingleMetric("jude_operator_reconciles_total")?.get())
        ?.values ?? []
    )
      .filter((value) => value.labels.controller === "embedding-model" && value.labels.result === "deferred")
      .reduce((sum, value) => sum + value.value, 0);

  /** jude_operator_reconcile_failing of the model in `namespace` (the JudeReconcileFailing alert's). */
  const failing = async (namespace: string): Promise<number[]> =>
    (
      (await operator().manager.metrics.registry.getSingleMetric("jude_operator_reconcile_failing")?.get())
        ?.values ?? []
    )
      .filter((value) => value.labels.namespace === namespace && value.labels.name === "minilm")
      .map((value) => value.value);

  it("says on the model why it is not reconciled, once, until the list is allowed", async () => {
    await untilModelDeployed(allowed);
    await untilModelStalled(unlisted, 60_000);
    const said = (await getObject("embeddingmodel/minilm", unlisted))!;
    const stalled = condition(said, "Stalled")!;
    expect(stalled.reason).toBe("ReconcileError");
    expect(stalled.message).toContain(`cannot list deployments.apps in namespace ${unlisted}`);
    expect(stalled.message).toMatch(/cannot list resource "deployments" in API group "apps"/);
    expect(condition(said, "Ready")?.status).toBe("False");
    // Stalled with ReconcileError: counted as failing, so the chart's JudeReconcileFailing fires.
    expect(await failing(unlisted)).toEqual([1]);
    expect(await failing(allowed)).toEqual([]);
    await waitFor(
      `a Warning Event on the model in ${unlisted}`,
      async () => (await reconcileErrorEvents(unlisted)).length > 0,
      {
        timeoutMs: 30_000,
      },
    );

    // Deferred again (by its own status write's watch event, and every few seconds): nothing new said.
    const before = await deferred();
    await waitFor("two more deferred reconciles", async () => (await deferred()) >= before + 2, {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    const later = (await getObject("embeddingmodel/minilm", unlisted))!;
    expect((later.metadata as Json).resourceVersion).toBe((said.metadata as Json).resourceVersion);
    const events = await reconcileErrorEvents(unlisted);
    expect(events).toHaveLength(1);
    expect(events[0]!.count ?? 1).toBe(1);
    expect(events[0]!.message).toContain(`cannot list deployments.apps in namespace ${unlisted}`);

    // The Role allows the list again: the model is reconciled, and says what its controller says.
    await apply([clusterRole(`${unlistedRole}-narrow`, chartRules())]);
    await untilModelDeployed(unlisted, 90_000);
    await waitFor(
      `the model in ${unlisted} no longer Stalled with ReconcileError`,
      async () =>
        condition(await getObject("embeddingmodel/minilm", unlisted), "Stalled")?.reason !== "ReconcileError",
      { timeoutMs: 30_000 },
    );
    expect(await failing(unlisted)).toEqual([]);
  });
});

describe("an operator that may not list Deployments in a namespace whose model's spec then changes", () => {
  const namespace = `narrowed-edited-${process.pid}`;
  const editedRole = `${role}-edited`;
  useOperatorWithRbac({
    name: editedRole,
    namespaces: [namespace],
    clusterRoles: {
      [editedRole]: withoutVerbs(chartRules(), "deployments", "list", "watch"),
    },
    roleBindings: { [namespace]: editedRole },
    objects: [cpuModel(namespace, "minilm", { replicas: 1 })],
  });

  /** Whether the model's Stalled ReconcileError is about its current generation (kstatus reads no other). */
  const stalledNow = async (): Promise<boolean> => {
    const model = (await getObject("embeddingmodel/minilm", namespace))!;
    const generation = (model.metadata as Json).generation;
    const stalled = condition(model, "Stalled") as (Json & { status: string; reason: string }) | undefined;
    return (
      stalled?.status === "True" &&
      stalled.reason === "ReconcileError" &&
      (model.status as Json).observedGeneration === generation &&
      stalled.observedGeneration === generation
    );
  };

  it("says why it is not reconciled about the spec as it is now", async () => {
    await waitFor(`the model in ${namespace} Stalled`, stalledNow, { timeoutMs: 60_000 });
    await apply([cpuModel(namespace, "minilm", { replicas: 2 })]);
    const edited = (await getObject("embeddingmodel/minilm", namespace))!;
    expect((edited.metadata as Json).generation).toBe(2);
    await waitFor(`the model in ${namespace} Stalled at generation 2`, stalledNow, {
      timeoutMs: 60_000,
      intervalMs: 500,
    }).catch(() => undefined);
    const model = (await getObject("embeddingmodel/minilm", namespace))!;
    expect((model.status as Json).observedGeneration).toBe(2);
    expect(condition(model, "Stalled")).toMatchObject({
      status: "True",
      reason: "ReconcileError",
      observedGeneration: 2,
    });
  });
});

describe("an operator that may neither list Deployments nor write model status in a namespace", () => {
  const namespace = `narrowed-nostatus-${process.pid}`;
  const mutedRole = `${role}-nostatus`;
  useOperatorWithRbac({
    name: mutedRole,
    namespaces: [namespace],
    clusterRoles: {
      [mutedRole]: withoutVerbs(chartRules(), "deployments", "list", "watch").map((rule) =>
        rule.resources.includes("embeddingmodels/status")
          ? { ...rule, resources: rule.resources.filter((resource) => resource !== "embeddingmodels/status") }
          : rule,
      ),
    },
    roleBindings: { [namespace]: mutedRole },
    objects: [cpuModel(namespace, "minilm", { replicas: 1 })],
  });

  it("says why the model is not reconciled in a Warning Event", async () => {
    const events = () => reconcileErrorEvents(namespace);
    await waitFor(`a Warning Event on the model in ${namespace}`, async () => (await events()).length > 0, {
      timeoutMs: 60_000,
    }).catch(() => undefined);
    const [event] = await events();
    expect(event?.message).toContain(`cannot list deployments.apps in namespace ${namespace}`);
  });
});

describe("an operator that may not list HorizontalPodAutoscalers in a namespace", () => {
  const namespace = `narrowed-nohpa-${process.pid}`;
  const hpaRole = `${role}-nohpa`;
  useOperatorWithRbac({
    name: hpaRole,
    namespaces: [namespace],
    clusterRoles: {
      [hpaRole]: withoutVerbs(chartRules(), "horizontalpodautoscalers", "list", "watch"),
    },
    roleBindings: { [namespace]: hpaRole },
    objects: [
      cpuModel(namespace, "minilm", { replicas: 1 }),
      // Names a pipeline that does not exist: its controller says so, having read no autoscaler.
      {
        apiVersion: "jude.dev/v1alpha1",
        kind: "BootstrapRun",
        metadata: { name: "fill", namespace },
        spec: { pipelineRef: { name: "absent" }, modelVersion: "v1", source: { kafkaSnapshot: {} } },
      },
    ],
    settings: { controllers: ["embedding-model", "bootstrap-run"] },
  });

  it("holds back the model, which reads autoscalers, and reconciles the BootstrapRun, which does not", async () => {
    await untilModelStalled(namespace, 60_000);
    expect(condition(await getObject("embeddingmodel/minilm", namespace), "Stalled")?.message).toContain(
      `cannot list horizontalpodautoscalers.autoscaling in namespace ${namespace}`,
    );
    // A young run takes a missing pipeline as one applied with it for its first 30 s (Reconciling),
    // then says Stalled: either way its controller read the pipelines.
    await waitFor(
      `the BootstrapRun in ${namespace} reconciled`,
      async () => {
        const run = await getObject("bootstraprun/fill", namespace);
        return [condition(run, "Reconciling"), condition(run, "Stalled")].some(
          (entry) => entry?.status === "True" && entry.reason === "PipelineNotFound",
        );
      },
      { timeoutMs: 60_000 },
    );
  });
});

describe("an operator whose Role loses list and watch on Deployments after it listed them", () => {
  const namespace = `narrowed-lost-${process.pid}`;
  const lostRole = `${role}-lost`;
  const operator = useOperatorWithRbac({
    name: lostRole,
    namespaces: [namespace],
    clusterRoles: { [lostRole]: chartRules() },
    roleBindings: { [namespace]: lostRole },
    objects: [cpuModel(namespace, "minilm", { replicas: 1 })],
    // Watches of 10..20 s: the one open when the Role is narrowed ends soon, and the next is refused.
    settings: { watchTimeoutSeconds: 10 },
  });

  it("says on the model why it is not reconciled, and reconciles it from a fresh list once allowed", async () => {
    await untilModelDeployed(namespace);
    await apply([clusterRole(lostRole, withoutVerbs(chartRules(), "deployments", "list", "watch"))]);
    await untilModelStalled(namespace, 90_000);
    const stalled = condition(await getObject("embeddingmodel/minilm", namespace), "Stalled")!;
    expect(stalled.reason).toBe("ReconcileError");
    expect(stalled.message).toContain(`cannot list deployments.apps in namespace ${namespace}`);
    await waitFor(
      `a Warning Event on the model in ${namespace}`,
      async () => (await reconcileErrorEvents(namespace)).length > 0,
      { timeoutMs: 30_000 },
    );
    // The refused watch, then the informer's retries (watches from where it was, refused too; not a
    // list of every Deployment each time): one cause, so one Warning Event (and one status write).
    const metric = async (name: string, labels: Record<string, string>): Promise<number> =>
      (
        ((await operator().manager.metrics.registry.getSingleMetric(name)?.get())?.values ?? []) as {
          labels: Record<string, string | number>;
          value: number;
        }[]
      )
        .filter((value) =>
          Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted),
        )
        .reduce((sum, value) => sum + value.value, 0);
    const deferred = () =>
      metric("jude_operator_reconciles_total", { controller: "embedding-model", result: "deferred" });
    const refusedWatches = () => metric("jude_operator_api_requests_total", { verb: "watch", code: "403" });
    const refusedFirst = await refusedWatches();
    await waitFor(
      "the Deployments watch refused again",
      async () => (await refusedWatches()) > refusedFirst,
      { timeoutMs: 60_000 },
    );
    // Looked at again after its backed-off delay (10 s doubling while the cause stays).
    const before = await deferred();
    await waitFor(
      `the model in ${namespace} deferred again since the watch was refused again`,
      async () => (await deferred()) > before,
      { timeoutMs: 180_000 },
    );
    expect(await reconcileErrorEvents(namespace)).toHaveLength(1);

    // Deleted by hand while the operator cannot see it; created again once the Role allows the list.
    await kubectl([
      "delete",
      "deployments",
      "-n",
      namespace,
      "-l",
      "app.kubernetes.io/managed-by=jude-operator",
    ]);
    await apply([clusterRole(lostRole, chartRules())]);
    await untilModelDeployed(namespace, 90_000);
    await waitFor(
      `the model in ${namespace} no longer Stalled with ReconcileError`,
      async () =>
        condition(await getObject("embeddingmodel/minilm", namespace), "Stalled")?.reason !==
        "ReconcileError",
      { timeoutMs: 30_000 },
    );
  });
});

describe("an operator whose Role keeps list but loses watch on Deployments after it listed them", () => {
  const namespace = `narrowed-nowatch-${process.pid}`;
  const noWatchRole = `${role}-nowatch`;
  const operator = useOperatorWithRbac({
    name: noWatchRole,
    namespaces: [namespace],
    clusterRoles: { [noWatchRole]: chartRules() },
    roleBindings: { [namespace]: noWatchRole },
    objects: [cpuModel(namespace, "minilm", { replicas: 1 })],
    // Watches of 10..20 s: the one open when the Role is narrowed ends soon, and the next is refused.
    settings: { watchStaleMs: 10_000, watchTimeoutSeconds: 10 },
  });

  it("holds the model back and keeps naming the refused watch, though lists are allowed", async () => {
    await untilModelDeployed(namespace);
    await apply([clusterRole(noWatchRole, withoutVerbs(chartRules(), "deployments", "watch"))]);
    await untilModelStalled(namespace, 90_000);
    const stalled = condition(await getObject("embeddingmodel/minilm", namespace), "Stalled")!;
    expect(stalled.reason).toBe("ReconcileError");
    expect(stalled.message).toMatch(/cannot watch resource "deployments"/);
    // The informer retries the watch (not a list each time); /readyz names the refused watch.
    const server = operator().manager.server!;
    await waitFor(
      "/readyz naming the refused Deployments watch",
      async () => {
        const readyz = await fetch(`http://127.0.0.1:${serverPort(server)}/readyz`);
        const line = (await readyz.text())
          .split("\n")
          .find((entry) => entry.startsWith(`[-]informer:deployments.apps/${namespace} `));
        return readyz.status === 503 && line?.includes('cannot watch resource "deployments"') === true;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    expect(await reconcileErrorEvents(namespace)).toHaveLength(1);
    await apply([clusterRole(noWatchRole, chartRules())]);
    await waitFor(
      `the model in ${namespace} no longer Stalled with ReconcileError`,
      async () =>
        condition(await getObject("embeddingmodel/minilm", namespace), "Stalled")?.reason !==
        "ReconcileError",
      { timeoutMs: 60_000 },
    );
  });
});

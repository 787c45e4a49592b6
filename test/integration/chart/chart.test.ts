/**
 * The Helm chart: `helm lint --strict`, the rendered objects against golden files (UPDATE_GOLDEN=1
 * regenerates them), and least-privilege RBAC checked on the testbed API server by impersonating the
 * chart's ServiceAccount: what the controllers call is allowed, a sample of everything else is denied,
 * in both the cluster-wide mode and the Role-per-namespace mode.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { checkGolden } from "../../../controllers/shared/golden.ts";
import { helm } from "../../support/helm.ts";
import { kubectl } from "../../support/kubectl.ts";
import { repoRoot } from "../../testbed/paths.ts";

const chart = join(repoRoot, "charts/jude-operator");
const releases: Array<{ name: string; namespace: string }> = [];

/** Objects `helm template` renders with some values. */
async function render(...set: string[]): Promise<unknown[]> {
  const yaml = await helm([
    "template",
    "jude",
    chart,
    "--namespace",
    "jude-system",
    ...set.flatMap((value) => ["--set", value]),
  ]);
  return parseAllDocuments(yaml)
    .map((document) => document.toJS() as unknown)
    .filter((object) => object !== null);
}

/** Whether the release's ServiceAccount may do something (`kubectl auth can-i` with impersonation). */
async function can(
  release: { name: string; namespace: string },
  verb: string,
  resource: string,
  namespace?: string,
): Promise<boolean> {
  const scope = namespace === undefined ? ["--all-namespaces"] : ["-n", namespace];
  // "kind/status" to kubectl auth can-i is the object named status; a subresource needs its own flag.
  const [type, subresource] = resource.split("/");
  const answer = await kubectl([
    "auth",
    "can-i",
    verb,
    type!,
    ...(subresource === undefined ? [] : [`--subresource=${subresource}`]),
    ...scope,
    `--as=system:serviceaccount:${release.namespace}:${release.name}-jude-operator`,
  ]).catch((error: { stdout?: string }) => error.stdout ?? "");
  return answer.trim() === "yes";
}

async function install(name: string, ...set: string[]): Promise<{ name: string; namespace: string }> {
  const release = { name, namespace: `${name}-system` };
  await helm([
    "install",
    name,
    chart,
    "--namespace",
    release.namespace,
    "--create-namespace",
    "--set",
    "crds.install=false",
    ...set.flatMap((value) => ["--set", value]),
  ]);
  releases.push(release);
  return release;
}

afterAll(async () => {
  for (const release of releases) {
    await helm(["uninstall", release.name, "--namespace", release.namespace]).catch(() => undefined);
    await kubectl(["delete", "namespace", release.namespace, "--wait=false"]).catch(() => undefined);
  }
});

describe("the jude-operator chart", () => {
  it("passes helm lint --strict", async () => {
    const output = await helm(["lint", "--strict", chart]);
    expect(output).toContain("0 chart(s) failed");
    await helm([
      "lint",
      "--strict",
      chart,
      "--set",
      "watchNamespaces={a,b}",
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--set",
      "metrics.prometheusRule.enabled=true",
      "--set",
      "grafanaDashboard.enabled=true",
    ]);
  });

  it("renders what the golden files hold", async () => {
    // The CRDs are checked against the generator by crds/generate.test.ts; the golden files hold the rest.
    const withoutCrds = (objects: unknown[]) =>
      objects.filter((object) => (object as { kind: string }).kind !== "CustomResourceDefinition");
    const defaults = withoutCrds(await render());
    expect(checkGolden(join(import.meta.dirname, "golden/defaults.yaml"), defaults)).toBeUndefined();
    const everything = await render(
      "crds.install=false",
      "watchNamespaces={recs,search}",
      "metrics.serviceMonitor.enabled=true",
      "metrics.prometheusRule.enabled=true",
      "grafanaDashboard.enabled=true",
      "image.tag=1.2.3",
      "workloads.nodeSelector.pool=jude",
      "workloads.nodeSelector.zone=a",
      "workloads.tolerations[0].key=dedicated",
      "workloads.tolerations[0].operator=Equal",
      "workloads.tolerations[0].value=jude",
      "workloads.tolerations[0].effect=NoSchedule",
    );
    expect(
      checkGolden(join(import.meta.dirname, "golden/namespaced-all-features.yaml"), everything),
    ).toBeUndefined();
  });

  it("grants no wildcard and never writes CRDs or nodes", async () => {
    const roles = (await render()).filter((object) =>
      /Role$/.test((object as { kind: string }).kind),
    ) as Array<{ rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }>;
    const rules = roles.flatMap((role) => role.rules);
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain("*");
      expect(rule.resources).not.toContain("customresourcedefinitions");
      expect(rule.resources).not.toContain("nodes");
    }
  });

  it("rejects invalid values with the schema's message", async () => {
    const failure = await helm([
      "template",
      "jude",
      chart,
      "--set",
      "controllers={embedding-model,bogus}",
    ]).catch((error: { stderr: string }) => error.stderr);
    expect(failure).toMatch(/controllers/);
  });

  it("lets the cluster-wide ServiceAccount do what the controllers do, and nothing more", async () => {
    const release = await install("rbac-cluster");
    for (const [verb, resource] of [
      ["watch", "embeddingmodels.jude.dev"],
      ["patch", "nearlinepipelines.jude.dev/status"],
      ["create", "bootstrapruns.jude.dev"],
      ["patch", "deployments.apps"],
      ["create", "services"],
      ["delete", "configmaps"],
      ["create", "poddisruptionbudgets.policy"],
      ["patch", "horizontalpodautoscalers.autoscaling"],
      ["create", "jobs.batch"],
      ["list", "pods"],
      ["get", "secrets"],
      ["get", "persistentvolumeclaims"],
      ["create", "events"],
    ])
      expect(await can(release, verb!, resource!, "recs"), `${verb} ${resource}`).toBe(true);
    expect(await can(release, "update", "leases.coordination.k8s.io", release.namespace)).toBe(true);
    for (const [verb, resource] of [
      ["list", "secrets"],
      ["watch", "secrets"],
      ["patch", "embeddingmodels.jude.dev"],
      ["update", "nearlinepipelines.jude.dev/status"],
      ["update", "leases.coordination.k8s.io"],
      ["create", "customresourcedefinitions.apiextensions.k8s.io"],
      ["patch", "nodes"],
      ["delete", "nodes"],
      ["create", "pods"],
      ["create", "clusterroles.rbac.authorization.k8s.io"],
      ["delete", "namespaces"],
    ])
      expect(await can(release, verb!, resource!, "recs"), `${verb} ${resource}`).toBe(false);
  });

  it("confines the namespaced mode to its watch list", async () => {
    await kubectl(["create", "namespace", "rbac-watched"]).catch(() => undefined);
    const release = await install("rbac-ns", "watchNamespaces={rbac-watched}");
    expect(await can(release, "patch", "deployments.apps", "rbac-watched")).toBe(true);
    expect(await can(release, "get", "secrets", "rbac-watched")).toBe(true);
    expect(await can(release, "get", "secrets", "default")).toBe(false);
    expect(await can(release, "patch", "deployments.apps", "default")).toBe(false);
    expect(await can(release, "list", "embeddingmodels.jude.dev")).toBe(false);
  });
});

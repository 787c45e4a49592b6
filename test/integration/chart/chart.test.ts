/**
 * The Helm chart: `helm lint --strict`, the rendered objects against golden files (UPDATE_GOLDEN=1
 * regenerates them), and least-privilege RBAC checked on the testbed API server by impersonating the
 * chart's ServiceAccount: what the controllers call is allowed, a sample of everything else is denied,
 * in both the cluster-wide mode and the Role-per-namespace mode.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { imagesFor } from "../../../controllers/shared/image.ts";
import { loadOperatorConfig } from "../../../operator/config.ts";
import { workloadPlacement } from "../../../operator/placement-config.ts";
import { checkGolden } from "../../../controllers/shared/golden.ts";
import { installCrds } from "../../support/crds.ts";
import { helm } from "../../support/helm.ts";
import { kubectl } from "../../support/kubectl.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { waitFor } from "../../testbed/wait.ts";

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
    // helm template assumes Kubernetes 1.20 without a cluster; the chart needs 1.29 or newer.
    "--kube-version",
    "1.34.0",
    ...set.flatMap((value) => ["--set", value]),
  ]);
  return parseAllDocuments(yaml)
    .map((document) => document.toJS() as unknown)
    .filter((object) => object !== null);
}

/** Whether the release's ServiceAccount may do something (`kubectl auth can-i` with impersonation). */
function can(
  release: { name: string; namespace: string },
  verb: string,
  resource: string,
  namespace?: string,
): Promise<boolean> {
  return canAs(
    `system:serviceaccount:${release.namespace}:${release.name}-jude-operator`,
    verb,
    resource,
    namespace,
  );
}

/** Whether a user may do something (`kubectl auth can-i` with impersonation). */
async function canAs(user: string, verb: string, resource: string, namespace?: string): Promise<boolean> {
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
    `--as=${user}`,
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
    // No operator pods unless a test asks: a release with replicas claims its namespaces (see below).
    "--set",
    "replicaCount=0",
    ...set.flatMap((value) => ["--set", value]),
  ]);
  releases.push(release);
  return release;
}

// `kubectl auth can-i` resolves a resource through discovery: without the JUDE CRDs served (the chart is
// installed with crds.install=false, and on a fresh testbed this file may run first) every question
// about embeddingmodels.jude.dev answers "no" whatever the RBAC says.
beforeAll(() => installCrds("chart-test"));

afterAll(async () => {
  for (const release of releases) {
    await helm(["uninstall", release.name, "--namespace", release.namespace]).catch(() => undefined);
    await kubectl(["delete", "namespace", release.namespace, "--wait=false"]).catch(() => undefined);
  }
});

/**
 * What a server-side dry-run install of release `release` in namespace default prints (its notes),
 * without the CRDs or operator pods, with the `set` values too.
 */
const installNotes = (release: string, ...set: string[]) =>
  helm(
    [
      "install",
      release,
      chart,
      "-n",
      "default",
      "--dry-run=server",
      "--set",
      "crds.install=false",
      // No operator pods: a release with replicas is refused beside another cluster-wide one.
      "--set",
      "replicaCount=0",
    ].concat(set.flatMap((value) => ["--set", value])),
  );

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
      "metrics.podMonitor.enabled=true",
      "metrics.prometheusRule.enabled=true",
      "grafanaDashboard.enabled=true",
      "image.tag=1.2.3",
      `image.digest=sha256:${"a".repeat(64)}`,
      `image.cudaDigest=sha256:${"c".repeat(64)}`,
      "workloads.nodeSelector.pool=jude",
      "workloads.nodeSelector.zone=a",
      "workloads.tolerations[0].key=dedicated",
      "workloads.tolerations[0].operator=Equal",
      "workloads.tolerations[0].value=jude",
      "workloads.tolerations[0].effect=NoSchedule",
      "workloads.imagePullSecrets[0].name=regcred",
      "workloads.imagePullSecrets[1].name=mirror.creds",
      "workloads.serviceAccountName=jude-workloads",
      "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
    );
    expect(
      checkGolden(join(import.meta.dirname, "golden/namespaced-all-features.yaml"), everything),
    ).toBeUndefined();
  });

  it("hands workloads.imagePullSecrets to the operator, which refuses what the schema refuses", async () => {
    const args = async (...set: string[]) =>
      (
        (await render(...set)).find((object) => (object as { kind: string }).kind === "Deployment") as {
          spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
        }
      ).spec.template.spec.containers[0]!.args;
    const config = loadOperatorConfig(
      (
        await args("workloads.imagePullSecrets[0].name=regcred", "imagePullSecrets[0].name=operator-only")
      ).slice(1),
      {},
    );
    // The operator pod's own pull Secrets stay its own: they live in the release namespace.
    expect(config.workloadImagePullSecrets).toEqual(["regcred"]);
    expect(loadOperatorConfig((await args()).slice(1), {}).workloadImagePullSecrets).toEqual([]);
    const refused = await render("workloads.imagePullSecrets[0].name=Reg_Cred").then(
      () => "rendered",
      (error: { stderr: string }) => error.stderr,
    );
    expect(refused).toMatch(/\/workloads\/imagePullSecrets\/0\/name/);
  });

  it("hands workloads.serviceAccountName to the operator, the namespace's default ServiceAccount without it", async () => {
    const args = async (...set: string[]) =>
      (
        (await render(...set)).find((object) => (object as { kind: string }).kind === "Deployment") as {
          spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
        }
      ).spec.template.spec.containers[0]!.args;
    const named = loadOperatorConfig(
      (await args("workloads.serviceAccountName=jude-workloads")).slice(1),
      {},
    );
    expect(workloadPlacement(named).serviceAccountName).toBe("jude-workloads");
    expect(workloadPlacement(loadOperatorConfig((await args()).slice(1), {}))).not.toHaveProperty(
      "serviceAccountName",
    );
    const refused = await render("workloads.serviceAccountName=Jude_Workloads").then(
      () => "rendered",
      (error: { stderr: string }) => error.stderr,
    );
    expect(refused).toMatch(/\/workloads\/serviceAccountName/);
  });

  it("pins every image by its own digest and gives the workloads the chart's pull policy", async () => {
    const container = async (...set: string[]) =>
      (
        (await render(...set)).find((object) => (object as { kind: string }).kind === "Deployment") as {
          spec: {
            template: {
              spec: { containers: Array<{ image: string; imagePullPolicy: string; args: string[] }> };
            };
          };
        }
      ).spec.template.spec.containers[0]!;
    const imagesOf = (args: string[]) => {
      const config = loadOperatorConfig(args.slice(1), {});
      return imagesFor(config.imageRepository, config.imageTag, config.workloadImagePullSecrets, {
        digest: config.imageDigest,
        cudaDigest: config.cudaImageDigest,
        pullPolicy: config.workloadImagePullPolicy,
      });
    };
    const cpu = `sha256:${"0123456789abcdef".repeat(4)}`;
    const cuda = `sha256:${"fedcba9876543210".repeat(4)}`;
    const pinned = await container(
      "image.tag=1.2.3",
      `image.digest=${cpu}`,
      `image.cudaDigest=${cuda}`,
      "image.pullPolicy=Always",
    );
    expect(pinned.image).toBe(`ghcr.io/jude-dev/jude:1.2.3@${cpu}`);
    expect(pinned.imagePullPolicy).toBe("Always");
    expect(imagesOf(pinned.args)).toMatchObject({
      jude: `ghcr.io/jude-dev/jude:1.2.3@${cpu}`,
      judeCuda: `ghcr.io/jude-dev/jude:1.2.3-cuda@${cuda}`,
      pullPolicy: "Always",
    });
    // The default policy reaches the workloads too, not only the operator pod.
    expect(imagesOf((await container()).args).pullPolicy).toBe("IfNotPresent");
    // A digest in the tag made the CUDA image <tag>@<digest>-cuda: refused, naming where it goes.
    const refused = (...set: string[]) =>
      render(...set).then(
        () => "rendered",
        (error: { stderr: string }) => error.stderr,
      );
    expect(await refused(`image.tag=1.2.3@${cpu}`)).toMatch(
      /image\.tag "1\.2\.3@sha256:[0-9a-f]{64}" is not an image tag .*: put a digest in image\.digest/,
    );
    expect(await refused("image.digest=1.2.3")).toMatch(/\/image\/digest/);
  });

  it("names a watched namespace that does not exist before writing anything", async () => {
    const name = "absent-watch";
    const failure = await install(name, "watchNamespaces={default,absent-watch-ns}").then(
      () => "installed",
      (error: Error) => error.message,
    );
    // Before: `namespaces "absent-watch-ns" not found`, and a failed release with its ServiceAccount and
    // the Role in default written.
    const release = await helm(["status", name, "-n", `${name}-system`]).catch(() => "no release");
    await helm(["uninstall", name, "-n", `${name}-system`]).catch(() => undefined);
    await kubectl(["delete", "namespace", `${name}-system`, "--wait=false"]).catch(() => undefined);
    expect(failure).toContain(
      "watchNamespaces: namespace absent-watch-ns does not exist (the operator's Role for it would live there): " +
        "create it first, or remove it from watchNamespaces",
    );
    expect(release).toBe("no release");
  });

  it("names a missing watched namespace on a first install into a namespace helm creates", async () => {
    // The README's install: --create-namespace, so the release namespace does not exist yet at render,
    // and no watched namespace exists either; the check took that for "no cluster" and skipped.
    const name = "absent-watch-new";
    const failure = await install(name, "watchNamespaces={absent-watch-new-ns}").then(
      () => "installed",
      (error: Error) => error.message,
    );
    // Before: `namespaces "absent-watch-new-ns" not found`, and a failed release with its ServiceAccount
    // and leader-election Role written.
    const release = await helm(["status", name, "-n", `${name}-system`]).catch(() => "no release");
    await helm(["uninstall", name, "-n", `${name}-system`]).catch(() => undefined);
    await kubectl(["delete", "namespace", `${name}-system`, "--wait=false"]).catch(() => undefined);
    expect(failure).toContain("watchNamespaces: namespace absent-watch-new-ns does not exist");
    expect(release).toBe("no release");
  });

  it("rolls the operator on a changed value, not on a changed replicaCount (it scales) or networkPolicy", async () => {
    const podTemplate = async (...set: string[]) =>
      ((await render(...set)) as Array<{ kind: string; spec: { replicas: number; template: unknown } }>).find(
        (object) => object.kind === "Deployment",
      )!.spec;
    const two = await podTemplate("replicaCount=2");
    // A new pod template would replace the leader for nothing: a Lease handover and a pause in reconciles.
    const three = await podTemplate("replicaCount=3");
    expect(three.replicas).toBe(3);
    expect(three.template).toEqual(two.template);
    // Nor does the NetworkPolicy, which is no part of the pods.
    expect((await podTemplate("replicaCount=2", "networkPolicy.enabled=false")).template).toEqual(
      two.template,
    );
    expect((await podTemplate("replicaCount=2", "concurrency=8")).template).not.toEqual(two.template);
  });

  it("spreads the operator's replicas over nodes and lets a drain evict them one at a time", async () => {
    type Rendered = {
      kind: string;
      spec: {
        maxUnavailable?: number;
        selector: { matchLabels: Record<string, string> };
        template: {
          metadata: { labels: Record<string, string> };
          spec: { topologySpreadConstraints?: { labelSelector: { matchLabels: Record<string, string> } }[] };
        };
      };
    };
    const objects = async (...set: string[]) => (await render(...set)) as Rendered[];
    const defaults = await objects();
    const deployment = defaults.find((object) => object.kind === "Deployment")!;
    const budget = defaults.find((object) => object.kind === "PodDisruptionBudget");
    expect(budget?.spec.maxUnavailable).toBe(1);
    expect(budget?.spec.selector).toEqual(deployment.spec.selector);
    const [spread] = deployment.spec.template.spec.topologySpreadConstraints ?? [];
    expect(spread).toMatchObject({
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: "ScheduleAnyway",
    });
    // It selects the operator's own pods, so other pods on a node do not count.
    expect(deployment.spec.template.metadata.labels).toMatchObject(spread!.labelSelector.matchLabels);
    // One replica: a budget would block every drain of its node.
    expect((await objects("replicaCount=1")).some((object) => object.kind === "PodDisruptionBudget")).toBe(
      false,
    );
    expect(
      (await objects("podDisruptionBudget.enabled=false")).some((o) => o.kind === "PodDisruptionBudget"),
    ).toBe(false);
    const unspread = (await objects("topologySpreadConstraints=null")).find((o) => o.kind === "Deployment")!;
    expect(unspread.spec.template.spec.topologySpreadConstraints).toBeUndefined();
  });

  it("keeps the CRDs, and so every JUDE resource, on uninstall unless crds.keep is off", async () => {
    const crds = async (...set: string[]) =>
      (
        (await render(...set)) as Array<{
          kind: string;
          metadata: { name: string; annotations?: Record<string, string> };
        }>
      )
        .filter((object) => object.kind === "CustomResourceDefinition")
        .map((crd) => [crd.metadata.name, crd.metadata.annotations?.["helm.sh/resource-policy"]]);
    const names = ["bootstrapruns.jude.dev", "embeddingmodels.jude.dev", "nearlinepipelines.jude.dev"];
    expect((await crds()).sort()).toEqual(names.map((name) => [name, "keep"]));
    expect((await crds("crds.keep=false")).sort()).toEqual(names.map((name) => [name, undefined]));
    expect(await crds("crds.install=false")).toEqual([]);
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
      "--kube-version",
      "1.34.0",
      "--set",
      "controllers={embedding-model,bogus}",
    ]).catch((error: { stderr: string }) => error.stderr);
    expect(failure).toMatch(/controllers/);
  });

  it("refuses in the schema names the API server would refuse or drop half-way through an install", async () => {
    const failure = (...set: string[]) =>
      render(...set).then(
        () => "rendered",
        (error: { stderr: string }) => error.stderr,
      );
    // A typo of cpu: the Deployment was refused after the RBAC and Service were written.
    expect(await failure("resources.limits.cpus=1")).toMatch(/\/resources\/limits[^]*cpus/);
    expect(await failure("resources.requests.Memory=1Gi")).toMatch(/\/resources\/requests[^]*Memory/);
    expect(await failure("extraEnv[0].name=A=b", "extraEnv[0].value=x")).toMatch(/\/extraEnv\/0\/name/);
    expect(await failure("priorityClassName=High Priority")).toMatch(/\/priorityClassName/);
    // An unknown key of a pull Secret reference was dropped by the API server with a warning.
    expect(await failure("imagePullSecrets[0].name=regcred", "imagePullSecrets[0].namespace=x")).toMatch(
      /\/imagePullSecrets\/0[^]*namespace/,
    );
    // What the API server takes still renders: standard names, hugepages, an extended resource.
    expect(
      await failure(
        "resources.limits.cpu=1",
        "priorityClassName=system-cluster-critical",
        "imagePullSecrets[0].name=regcred",
        "resources.limits.ephemeral-storage=1Gi",
        "resources.limits.hugepages-2Mi=4Mi",
        "resources.limits.example\\.com/fpga=1",
        "extraEnv[0].name=lower.case-name_1",
        "extraEnv[0].value=x",
      ),
    ).toBe("rendered");
  });

  it("refuses at render what the API server would drop with a warning, or what would block every drain", async () => {
    // Each rendered, and the API server kept the operator's defaults with only a warning
    // (`unknown field "spec.template.spec.containers[0].resources.limit"`), or refused the install
    // half-way (an empty quantity), or accepted a budget that lets no drain evict an operator pod.
    const refusal = (...set: string[]) =>
      helm([
        "template",
        "jude",
        chart,
        "--kube-version",
        "1.34.0",
        ...set.flatMap((value) => ["--set", value]),
      ]).then(
        () => "rendered",
        (error: { stderr: string }) => /^- at '([^']*)'/m.exec(error.stderr)?.[1] ?? error.stderr,
      );
    const cases: Array<[string[], string]> = [
      [["resources.limit.memory=1Gi"], "/resources"],
      [["resources.requests.cpu="], "/resources/requests/cpu"],
      [["resources.limits.memory=lots"], "/resources/limits/memory"],
      [["tolerations[0].key=dedicated", "tolerations[0].efect=NoSchedule"], "/tolerations/0"],
      [["extraEnv[0].name=A", "extraEnv[0].vaule=b"], "/extraEnv/0"],
      [["podDisruptionBudget.maxUnavailable=0"], "/podDisruptionBudget/maxUnavailable"],
      [["podDisruptionBudget.maxUnavailable=0%"], "/podDisruptionBudget/maxUnavailable"],
      [["podDisruptionBudget.maxUnavailable=half"], "/podDisruptionBudget/maxUnavailable"],
      // The API server accepts any image; the kubelet then refuses the operator's (InvalidImageName).
      [["image.repository=ghcr.io/jude-dev/jude:1.0"], "/image/repository"],
      [["image.repository=ghcr.io/jude-dev/jude@sha256:" + "0".repeat(64)], "/image/repository"],
      [["image.repository=ghcr.io/Jude-Dev/jude"], "/image/repository"],
      [["image.repository=ghcr.io/jude dev/jude"], "/image/repository"],
      [["image.repository=https://ghcr.io/jude-dev/jude"], "/image/repository"],
      // Labels and annotations the API server refuses (after the CRDs went in, half way).
      [
        ["extraEnv[0].name=A", "extraEnv[0].value=x", "extraEnv[0].valueFrom.secretKeyRef.name=s"],
        "/extraEnv/0/value",
      ],
      [["extraEnv[0].name=A", "extraEnv[0].valueFrom.secretKeyRf.name=s"], "/extraEnv/0/valueFrom"],
      [
        [
          "extraEnv[0].name=A",
          "extraEnv[0].valueFrom.secretKeyRef.name=s",
          "extraEnv[0].valueFrom.fieldRef.fieldPath=x",
        ],
        "/extraEnv/0/valueFrom",
      ],
      [["podLabels.team=search team"], "/podLabels/team"],
      [["podLabels.team=" + "x".repeat(64)], "/podLabels/team"],
      [["podLabels.Team\\ A=search"], "/podLabels"],
      [["nodeSelector.pool=-gpu"], "/nodeSelector/pool"],
      [["podAnnotations.a\\ b=x"], "/podAnnotations"],
      [["serviceAccount.annotations.a\\ b=x"], "/serviceAccount/annotations"],
      // A ServiceAccount name the API server refuses (a DNS-1123 subdomain), created or referenced.
      [["serviceAccount.name=Jude_Operator"], "/serviceAccount/name"],
      [["serviceAccount.name=-jude"], "/serviceAccount/name"],
      [["serviceAccount.name=" + "a".repeat(254)], "/serviceAccount/name"],
      [["serviceAccount.create=false", "serviceAccount.name=jude operator"], "/serviceAccount/name"],
      [["metrics.serviceMonitor.labels.release=prometheus stack"], "/metrics/serviceMonitor/labels/release"],
      [["metrics.podMonitor.labels.release=_x"], "/metrics/podMonitor/labels/release"],
      [["metrics.prometheusRule.labels.role/=x"], "/metrics/prometheusRule/labels"],
      [["grafanaDashboard.labels.grafana_dashboard=a b"], "/grafanaDashboard/labels/grafana_dashboard"],
    ];
    const accepted: Array<[string[], string]> = [
      [
        ["resources.limits.cpu=1500m", "resources.requests.memory=0.5Gi", "resources.limits.memory=1e9"],
        "rendered",
      ],
      [["resources.limits.nvidia\\.com/gpu=1"], "rendered"],
      // null drops a default (the memory limit) or a key the defaults lack, as Helm reads it.
      [["resources.limits.memory=null", "resources.limits.cpu=null"], "rendered"],
      [["tolerations[0].operator=Exists"], "rendered"],
      [
        [
          "extraEnv[0].name=A",
          "extraEnv[0].valueFrom.secretKeyRef.name=s",
          "extraEnv[0].valueFrom.secretKeyRef.key=k",
        ],
        "rendered",
      ],
      [["podDisruptionBudget.maxUnavailable=50%"], "rendered"],
      [["podDisruptionBudget.maxUnavailable=2"], "rendered"],
      [["image.repository=registry.example.com:5000/platform/jude"], "rendered"],
      [["image.repository=localhost/jude_ops/jude-operator__x"], "rendered"],
      [["image.repository=jude"], "rendered"],
      [["serviceAccount.name=jude.operator-1"], "rendered"],
      [["serviceAccount.name=" + "a".repeat(253)], "rendered"],
      // An IPv6 registry, as the image-name grammar (distribution/reference) takes it.
      [["image.repository=[fd00::1]:5000/platform/jude"], "rendered"],
      [["image.repository=[2001:db8::5]/jude"], "rendered"],
      [
        [
          "podLabels.team\\.example\\.com/owner=search_team-1.a",
          "podLabels.empty=",
          "nodeSelector.kubernetes\\.io/os=linux",
          "podAnnotations.example\\.com/note=any text: even spaces",
          // The API server checks an annotation key lowercased: an uppercase prefix is taken.
          "podAnnotations.Example\\.COM/Owner=x",
          "serviceAccount.annotations.IAM\\.example\\.com/Role=r",
          "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/x",
          "metrics.serviceMonitor.labels.release=prometheus",
        ],
        "rendered",
      ],
    ];
    const all = [...cases, ...accepted];
    const results = await Promise.all(all.map(([set]) => refusal(...set)));
    expect(all.map(([set], index) => [set, results[index]])).toEqual(all.map(([set, at]) => [set, at]));
  });

  it("refuses labels and annotations that would replace the chart's own, and renders each key once", async () => {
    // toYaml of the user's map was appended after the chart's keys: a podLabels app.kubernetes.io/name
    // gave the pod template that key twice, the API server took the last and refused the Deployment
    // ("`selector` does not match template `labels`") at install, after `helm template` had succeeded.
    interface Manifest {
      kind: string;
      metadata?: { labels?: Record<string, string> };
      spec?: {
        template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };
      };
    }
    const template = (...set: string[]) =>
      helm([
        "template",
        "jude",
        chart,
        "--kube-version",
        "1.34.0",
        ...set.flatMap((value) => ["--set", value]),
      ]);
    const refusal = (...set: string[]) =>
      template(...set).then(
        () => "rendered",
        (error: { stderr: string }) =>
          /execution error at [^:]+:\d+:\d+\): (.*)/.exec(error.stderr)?.[1] ?? error.stderr,
      );
    expect(await refusal("podLabels.app\\.kubernetes\\.io/name=evil")).toBe(
      'podLabels sets "app.kubernetes.io/name" to "evil", but the chart sets it to "jude-operator": leave it out',
    );
    expect(await refusal("podLabels.app\\.kubernetes\\.io/instance=other")).toMatch(
      /^podLabels sets "app\.kubernetes\.io\/instance" to "other", but the chart sets it to "jude"/,
    );
    expect(await refusal("podAnnotations.jude\\.dev/values-hash=mine")).toMatch(
      /^podAnnotations sets "jude\.dev\/values-hash" to "mine", but the chart sets it to "[0-9a-f]{16}": leave it out$/,
    );
    expect(
      await refusal(
        "metrics.podMonitor.enabled=true",
        "metrics.podMonitor.labels.app\\.kubernetes\\.io/part-of=x",
      ),
    ).toBe(
      'metrics.podMonitor.labels sets "app.kubernetes.io/part-of" to "x", but the chart sets it to "jude": leave it out',
    );
    // The chart's own value again, and labels of the user's own, render once each.
    const yaml = await template(
      "podLabels.app\\.kubernetes\\.io/name=jude-operator",
      "podLabels.team=search",
      "podAnnotations.owner=search",
      "metrics.serviceMonitor.enabled=true",
      "metrics.serviceMonitor.labels.app\\.kubernetes\\.io/part-of=jude",
      "metrics.serviceMonitor.labels.release=prometheus",
      "metrics.podMonitor.enabled=true",
      "metrics.podMonitor.labels.release=prometheus",
      "metrics.prometheusRule.enabled=true",
      "metrics.prometheusRule.labels.helm\\.sh/chart=jude-operator-0.1.0",
      "grafanaDashboard.enabled=true",
    );
    const documents = parseAllDocuments(yaml);
    expect(documents.flatMap((document) => document.errors.map((error) => error.message))).toEqual([]);
    const objects = documents.map((document) => document.toJS() as Manifest | null).filter((o) => o !== null);
    const deployment = objects.find((object) => object.kind === "Deployment");
    expect(deployment?.spec?.template?.metadata?.labels).toEqual({
      "app.kubernetes.io/name": "jude-operator",
      "app.kubernetes.io/instance": "jude",
      team: "search",
    });
    expect(deployment?.spec?.template?.metadata?.annotations).toMatchObject({ owner: "search" });
    const labelsOf = (kind: string) => objects.find((object) => object.kind === kind)?.metadata?.labels;
    expect(labelsOf("ServiceMonitor")).toMatchObject({
      "app.kubernetes.io/part-of": "jude",
      release: "prometheus",
    });
    expect(labelsOf("PodMonitor")).toMatchObject({ release: "prometheus" });
    expect(labelsOf("PrometheusRule")).toMatchObject({ "helm.sh/chart": "jude-operator-0.1.0" });
  });

  it("renders objects Kubernetes decodes for a release or namespace named like a YAML 1.1 boolean", async () => {
    // Unquoted, `n`, `y`, `on` or `off` decode as booleans: every object was refused, labels first.
    const yaml = await helm([
      "template",
      "n",
      chart,
      "--namespace",
      "on",
      "--kube-version",
      "1.34.0",
      "--set",
      "crds.install=false",
      "--set",
      "watchNamespaces={y,off}",
    ]);
    expect(await kubectl(["apply", "--dry-run=client", "-f", "-"], yaml)).toContain(
      "role.rbac.authorization.k8s.io/n-jude-operator created (dry run)",
    );
  });

  it("renders objects the API server accepts for the longest release name helm allows", async () => {
    // helm takes release names of up to 53 characters; the full name is cut at 63, and a Service's
    // name (a DNS label) must fit in 63 too, suffix included.
    const release = "a".repeat(53);
    const yaml = await helm([
      "template",
      release,
      chart,
      "--namespace",
      "default",
      "--kube-version",
      "1.34.0",
      "--set",
      "crds.install=false",
    ]);
    const objects = parseAllDocuments(yaml)
      .map((document) => document.toJS() as { kind: string; metadata: { name: string } } | null)
      .filter((object) => object !== null);
    const service = objects.find((object) => object.kind === "Service");
    expect(service?.metadata.name).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(
      await kubectl(["apply", "--dry-run=server", "-n", "default", "-f", "-"], JSON.stringify(service)),
    ).toContain(`service/${service?.metadata.name} created (server dry run)`);
    // The install notes port-forward to that Service.
    const notes = await installNotes(release);
    expect(notes).toContain(`port-forward svc/${service?.metadata.name} 8081`);
  });

  it("points the install notes at a port-forward target that exists, and names the NetworkPolicy", async () => {
    const notes = (...set: string[]) => installNotes("notes", ...set);
    const defaults = await notes();
    expect(defaults).toContain("port-forward svc/notes-jude-operator-metrics 8081");
    expect(await notes("metrics.service.enabled=false")).toContain(
      "port-forward deployment/notes-jude-operator 8081",
    );
    // The NetworkPolicy is named, with what a Prometheus it leaves out must change.
    expect(defaults).toMatch(
      /NetworkPolicy notes-jude-operator: [^]*admit traffic on port 8081 alone, from networkPolicy\.metricsFrom/,
    );
    expect(await notes("networkPolicy.enabled=false")).not.toContain("NetworkPolicy notes-jude-operator");
  });

  // An operator confined to some namespaces reconciles nothing in the user's current one (often
  // default): the notes' commands say where to create the Secret and apply the objects.
  it("puts the install notes' commands in a watched namespace when the operator watches only some", async () => {
    const watched = await installNotes("notes", "watchNamespaces={kube-public,default}");
    for (const command of [
      "kubectl -n kube-public create secret generic jude-redis",
      "kubectl -n kube-public apply -f examples/embedding-model.yaml",
      "kubectl -n kube-public get embeddingmodels,nearlinepipelines,bootstrapruns",
      "kubectl jude status -n kube-public",
      // Step 3's commands too: `approve` in the current, unwatched namespace finds no model.
      "with `kubectl jude status -n kube-public`",
      "`kubectl jude approve MODEL -n kube-public`",
    ])
      expect(watched).toContain(command);
    // Watching every namespace, the commands act on the current one, as before.
    const everywhere = await installNotes("notes");
    expect(everywhere).toContain("kubectl create secret generic jude-redis");
    expect(everywhere).toMatch(/kubectl jude status$/m);
    expect(everywhere).toContain(
      "with `kubectl jude status`, approve a Manual cutover with `kubectl jude approve MODEL`.",
    );
  });

  it("refuses a cluster older than the CRDs' validation rules need", async () => {
    const failure = await helm(["template", "jude", chart, "--kube-version", "1.28.9"]).catch(
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toMatch(
      /requires kubeVersion: >=1\.29\.0-0 which is incompatible with Kubernetes v1\.28\.9/,
    );
    await helm(["template", "jude", chart, "--kube-version", "1.29.0"]);
  });

  it("refuses leader-election settings the operator would refuse at start", async () => {
    const failure = (...set: string[]) =>
      render(...set).then(
        () => "rendered",
        (error: { stderr: string }) => error.stderr,
      );
    expect(await failure("leaderElection.leaseDurationSeconds=10")).toMatch(
      /leaderElection\.leaseDurationSeconds \(10\) must exceed leaderElection\.renewDeadlineSeconds \(10\)/,
    );
    expect(await failure("leaderElection.retryPeriodSeconds=10")).toMatch(
      /leaderElection\.renewDeadlineSeconds \(10\) must exceed leaderElection\.retryPeriodSeconds \(10\)/,
    );
    expect(await failure("leaderElection.enabled=false")).toMatch(
      /leaderElection\.enabled=false makes every replica reconcile: set replicaCount to 1 \(it is 2\)/,
    );
    // What the chart accepts, the operator accepts: the rendered arguments parse (the nearest valid
    // timings, and a single replica without election, which is replaced rather than surged).
    for (const set of [
      ["leaderElection.leaseDurationSeconds=11"],
      ["leaderElection.retryPeriodSeconds=9"],
      ["leaderElection.enabled=false", "replicaCount=1"],
    ]) {
      const deployment = (await render(...set)).find(
        (object) => (object as { kind: string }).kind === "Deployment",
      ) as {
        spec: { strategy: { type?: string }; template: { spec: { containers: Array<{ args: string[] }> } } };
      };
      expect(() =>
        loadOperatorConfig(deployment.spec.template.spec.containers[0]!.args.slice(1), {}),
      ).not.toThrow();
      if (set[0] === "leaderElection.enabled=false") expect(deployment.spec.strategy.type).toBe("Recreate");
    }
    // And the operator refuses the timings the chart refuses.
    expect(() =>
      loadOperatorConfig(["--lease-duration-seconds=10", "--renew-deadline-seconds=10"], {}),
    ).toThrow(/lease-duration-seconds must exceed renew-deadline-seconds/);
  });

  it("passes the ReconcileError and retry timings to the operator, and refuses what it would refuse", async () => {
    const argsOf = async (...set: string[]) => {
      const deployment = (await render(...set)).find(
        (object) => (object as { kind: string }).kind === "Deployment",
      ) as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } };
      return deployment.spec.template.spec.containers[0]!.args;
    };
    const defaults = loadOperatorConfig((await argsOf()).slice(1), {});
    expect(defaults).toMatchObject({ reconcileErrorAfterSeconds: 60, retryMaxDelaySeconds: 60 });
    const args = await argsOf("reconcileErrorAfterSeconds=300", "retryMaxDelaySeconds=1000");
    expect(args).toContain("--reconcile-error-after-seconds=300");
    expect(loadOperatorConfig(args.slice(1), {})).toMatchObject({
      reconcileErrorAfterSeconds: 300,
      retryMaxDelaySeconds: 1000,
    });
    const refused = (...set: string[]) =>
      render(...set).then(
        () => "rendered",
        (error: { stderr: string }) => error.stderr,
      );
    expect(await refused("reconcileErrorAfterSeconds=0")).toMatch(
      /\/reconcileErrorAfterSeconds': minimum: got 0, want 1/,
    );
    expect(await refused("retryMaxDelaySeconds=0")).toMatch(
      /\/retryMaxDelaySeconds': minimum: got 0, want 1/,
    );
    expect(await refused("reconcileErrorAfterSeconds=soon")).toMatch(/reconcileErrorAfterSeconds/);
  });

  it("replaces operator pods that ignore the Lease when an upgrade turns leader election on", async () => {
    // No pods needed: the strategy is chosen from the live Deployment's template.
    const release = await install("election-on", "leaderElection.enabled=false", "replicaCount=0");
    const upgrade = (value: string) =>
      helm(["upgrade", release.name, chart, "-n", release.namespace, "--reuse-values", "--set", value]);
    const strategy = () =>
      kubectl([
        "get",
        "deployment",
        "election-on-jude-operator",
        "-n",
        release.namespace,
        "-o",
        "jsonpath={.spec.strategy.type}",
      ]);
    expect(await strategy()).toBe("Recreate");
    // A surge pod would win the free Lease and reconcile beside the pods that never consult it.
    await upgrade("leaderElection.enabled=true");
    expect(await strategy()).toBe("Recreate");
    // From then on every pod takes part in the election: hand over through the Lease.
    await upgrade("logLevel=debug");
    expect(await strategy()).toBe("RollingUpdate");
  });

  it("upgrades with --reuse-values a release whose chart predates userRoles, podDisruptionBudget and networkPolicy", async () => {
    // --reuse-values renders the new templates with the previous release's values, the older chart's
    // defaults included: a key added since is absent, not the new chart's default.
    const older = mkdtempSync(join(tmpdir(), "jude-chart-older-"));
    try {
      cpSync(chart, older, { recursive: true });
      for (const template of ["user-roles.yaml", "poddisruptionbudget.yaml", "networkpolicy.yaml"])
        rmSync(join(older, "templates", template));
      const values = readFileSync(join(older, "values.yaml"), "utf8")
        .replace(/^podDisruptionBudget:\n( {2}.*\n)+/m, "")
        .replace(/^userRoles:\n( {2}.*\n)+/m, "")
        .replace(/^networkPolicy:\n( {2}.*\n)+/m, "");
      expect(values).not.toMatch(/^(podDisruptionBudget|userRoles|networkPolicy):/m);
      writeFileSync(join(older, "values.yaml"), values);
      const name = `reuse-values-${process.pid}`;
      const release = { name, namespace: `${name}-system` };
      await helm([
        "install",
        release.name,
        older,
        "--namespace",
        release.namespace,
        "--create-namespace",
        "--set",
        "crds.install=false",
        "--set",
        "replicaCount=0",
      ]);
      releases.push(release);
      const upgrade = (...args: string[]) =>
        helm(["upgrade", release.name, chart, "-n", release.namespace, "--reuse-values", ...args]);
      // Two replicas would claim the release's namespaces: only render them.
      const manifest = await upgrade("--set", "replicaCount=2", "--dry-run");
      expect(manifest).toMatch(/kind: PodDisruptionBudget\n[^]*?maxUnavailable: 1\n/);
      expect(manifest).toMatch(/kind: NetworkPolicy\n[^]*?port: 8081\n[^]*?- namespaceSelector: \{\}\n/);
      await upgrade();
      // The chart's default for a key the older release did not have: the user roles are created.
      expect(
        await kubectl(["get", "clusterrole", `${release.name}-jude-operator-view`, "-o", "name"]),
      ).toContain("clusterrole");
    } finally {
      rmSync(older, { recursive: true, force: true });
    }
  });

  it("refuses a second release whose operator would reconcile the same objects, naming the first", async () => {
    // Operator pods that never schedule: a release claims what its values say it reconciles.
    const unscheduled = ["replicaCount=1", "nodeSelector.jude\\.dev/no-such-node=none"];
    const refusal = (name: string, ...set: string[]) =>
      install(name, ...unscheduled, ...set).then(
        () => "installed",
        (error: Error) => error.message,
      );
    await kubectl(["create", "namespace", "overlap-models"]).catch(() => undefined);
    await install("overlap-a", ...unscheduled, "controllers={bootstrap-run}");
    // Without the check the operators rewrite each other's Deployments (generation 2 to 105 in 45 s).
    expect(await refusal("overlap-b", "watchNamespaces={overlap-models}", "crds.install=true")).toContain(
      "another jude-operator release, overlap-a-system/overlap-a, already runs controllers bootstrap-run " +
        "in every namespace (its ClusterRole overlap-a-jude-operator)",
    );
    const disjoint = ["watchNamespaces={overlap-models}", "controllers={embedding-model,nearline-pipeline}"];
    expect(await refusal("overlap-b", ...disjoint)).toBe("installed");
    // A release does not refuse itself on upgrade.
    await helm([
      "upgrade",
      "overlap-b",
      chart,
      "-n",
      "overlap-b-system",
      "--reuse-values",
      "--set",
      "logLevel=debug",
    ]);
    expect(
      await refusal("overlap-c", "watchNamespaces={overlap-models}", "controllers={nearline-pipeline}"),
    ).toContain(
      "another jude-operator release, overlap-b-system/overlap-b, already runs controllers nearline-pipeline " +
        "in namespace overlap-models (its Role overlap-models/overlap-b-jude-operator)",
    );
    await kubectl(["delete", "namespace", "overlap-models", "--wait=false"]);
  });

  it("removes the Roles of namespaces an upgrade no longer watches", async () => {
    for (const namespace of ["narrowed-a", "narrowed-b"])
      await kubectl(["create", "namespace", namespace]).catch(() => undefined);
    const release = await install("narrowed", "watchNamespaces={narrowed-a,narrowed-b}");
    const roles = async (namespace: string) =>
      (
        await kubectl([
          "get",
          "roles",
          "-n",
          namespace,
          "-l",
          `app.kubernetes.io/instance=${release.name}`,
          "-o",
          "name",
        ])
      ).trim();
    expect(await roles("narrowed-a")).toBe("role.rbac.authorization.k8s.io/narrowed-jude-operator");
    await helm([
      "upgrade",
      release.name,
      chart,
      "-n",
      release.namespace,
      "--reuse-values",
      "--set",
      "watchNamespaces={narrowed-b}",
    ]);
    expect(await roles("narrowed-a")).toBe("");
    expect(await roles("narrowed-b")).toBe("role.rbac.authorization.k8s.io/narrowed-jude-operator");
    expect(await can(release, "patch", "deployments.apps", "narrowed-a")).toBe(false);
    await kubectl(["delete", "namespace", "narrowed-a", "narrowed-b", "--wait=false"]);
  });

  it("keeps the namespace of the operator's own series when Prometheus scrapes it", async () => {
    // jude_promotion_stalled{namespace,model,version} and jude_bootstrap_failed{namespace,name,version}
    // name the resource's namespace; prometheus-operator also attaches the target's namespace, and
    // without honorLabels the alerts would point at the operator's namespace instead.
    const [monitor] = (await render("metrics.serviceMonitor.enabled=true")).filter(
      (object) => (object as { kind: string }).kind === "ServiceMonitor",
    ) as Array<{ spec: { endpoints: Array<{ honorLabels?: boolean }> } }>;
    expect(monitor!.spec.endpoints.map((endpoint) => endpoint.honorLabels)).toEqual([true]);
  });

  it("scrapes the servers and nearline workers the operator renders, in the watched namespaces", async () => {
    interface PodMonitor {
      spec: {
        namespaceSelector: { any?: boolean; matchNames?: string[] };
        selector: {
          matchLabels: Record<string, string>;
          matchExpressions: Array<{ key: string; operator: string; values: string[] }>;
        };
        podMetricsEndpoints: Array<{ port: string; path: string }>;
      };
    }
    const podMonitor = async (...set: string[]) =>
      (await render("metrics.podMonitor.enabled=true", ...set)).find(
        (object) => (object as { kind: string }).kind === "PodMonitor",
      ) as PodMonitor;
    expect((await podMonitor()).spec.namespaceSelector).toEqual({ any: true });
    expect((await podMonitor("watchNamespaces={recs,search}")).spec.namespaceSelector).toEqual({
      matchNames: ["recs", "search"],
    });

    const { selector, podMetricsEndpoints } = (await podMonitor()).spec;
    const selects = (labels: Record<string, string>) =>
      Object.entries(selector.matchLabels).every(([key, value]) => labels[key] === value) &&
      selector.matchExpressions.every(
        (expression) =>
          expression.operator === "In" && expression.values.includes(labels[expression.key] ?? ""),
      );
    // The workloads as the controllers render them (their golden files, kept current by their tests).
    const templates = [
      "embedding-model/golden/cpu-https-tls.yaml",
      "embedding-model/golden/gpu-pvc-autoscaled.yaml",
      "nearline-pipeline/golden/jobs.yaml",
      "bootstrap-run/golden/files.yaml",
    ].flatMap((file) =>
      parseAllDocuments(readFileSync(join(repoRoot, "controllers", file), "utf8"))
        .map((document) => document.toJS() as { kind: string; spec: { template: PodTemplate } })
        .filter((object) => object.kind === "Deployment" || object.kind === "Job")
        .map((object) => object.spec.template),
    );
    type PodTemplate = {
      metadata: { labels: Record<string, string> };
      spec: { containers: Array<{ ports?: Array<{ name: string }> }> };
    };
    const scraped = templates.filter((template) => selects(template.metadata.labels));
    expect(scraped.map((template) => template.metadata.labels["app.kubernetes.io/component"]).sort()).toEqual(
      ["nearline", "serving", "serving"],
    );
    for (const template of scraped) {
      const ports = template.spec.containers
        .flatMap((container) => container.ports ?? [])
        .map((port) => port.name);
      expect(podMetricsEndpoints.filter((endpoint) => ports.includes(endpoint.port))).toHaveLength(1);
    }
  });

  it("admits traffic to the operator's pods on the one port they serve, from every pod by default", async () => {
    interface Rendered {
      kind: string;
      spec: {
        selector: { matchLabels: Record<string, string> };
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: Array<{ ports: Array<{ port: number; protocol: string }>; from: unknown[] }>;
        template: {
          spec: { containers: Array<{ ports?: Array<{ containerPort: number; protocol: string }> }> };
        };
        conversion?: { strategy: string };
      };
    }
    const objects = async (...set: string[]) => (await render(...set)) as Rendered[];
    const policyOf = (rendered: Rendered[]) => rendered.find((object) => object.kind === "NetworkPolicy");
    const defaults = await objects();
    const deployment = defaults.find((object) => object.kind === "Deployment")!;
    const policy = policyOf(defaults)!;
    expect(policy.spec.podSelector).toEqual(deployment.spec.selector);
    // Every port the pod serves, and no other: a port added to the container fails here until the
    // policy admits it. Nothing else calls the pods: the chart registers no webhook, the CRDs convert
    // nothing (the API server's own source addresses are not pods, and no policy could name them).
    const served = deployment.spec.template.spec.containers.flatMap((container) =>
      (container.ports ?? []).map((port) => ({ port: port.containerPort, protocol: port.protocol })),
    );
    expect(served).toEqual([{ port: 8081, protocol: "TCP" }]);
    expect(policy.spec.ingress.flatMap((rule) => rule.ports)).toEqual(served);
    expect(defaults.map((object) => object.kind)).not.toContain("ValidatingWebhookConfiguration");
    expect(defaults.map((object) => object.kind)).not.toContain("MutatingWebhookConfiguration");
    for (const crd of defaults.filter((object) => object.kind === "CustomResourceDefinition"))
      expect(crd.spec.conversion?.strategy ?? "None").toBe("None");
    // A Prometheus in any namespace still scrapes; egress is left open (the API server's addresses are
    // not pods, and the stores and brokers are whatever the resources name).
    expect(policy.spec.ingress.map((rule) => rule.from)).toEqual([[{ namespaceSelector: {} }]]);
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);

    const moved = await objects("metrics.port=9090");
    expect(policyOf(moved)!.spec.ingress[0]!.ports).toEqual([{ port: 9090, protocol: "TCP" }]);
    const narrowed = policyOf(
      await objects(
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
        "networkPolicy.metricsFrom[0].podSelector.matchLabels.app\\.kubernetes\\.io/name=prometheus",
      ),
    )!;
    expect(narrowed.spec.ingress[0]!.from).toEqual([
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
        podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
      },
    ]);
    expect(policyOf(await objects("networkPolicy.enabled=false"))).toBeUndefined();
  });

  it("renders NetworkPolicies the API server accepts, and refuses at render the peers it would refuse", async () => {
    const policy = (json: string, ...extra: string[]) =>
      helm([
        "template",
        "jude",
        chart,
        "--namespace",
        "default",
        "--kube-version",
        "1.34.0",
        "--show-only",
        "templates/networkpolicy.yaml",
        "--set-json",
        `networkPolicy.metricsFrom=${json}`,
        ...extra,
      ]);
    const serverDryRun = (yaml: string) =>
      kubectl(["apply", "--dry-run=server", "-f", "-"], yaml).then(
        (output) => output.trim(),
        (error: { stderr: string }) => error.stderr,
      );
    const accepted = [
      '[{"namespaceSelector":{}}]',
      '[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}},' +
        '"podSelector":{"matchExpressions":[{"key":"app.kubernetes.io/name","operator":"In","values":["prometheus"]},' +
        '{"key":"canary","operator":"DoesNotExist"}]}}]',
      '[{"ipBlock":{"cidr":"192.0.2.0/24","except":["192.0.2.8/29"]}},{"ipBlock":{"cidr":"2001:db8::/32"}}]',
    ];
    for (const json of accepted)
      expect(await serverDryRun(await policy(json)), json).toBe(
        "networkpolicy.networking.k8s.io/jude-jude-operator created (server dry run)",
      );
    // Each refused by the schema at render (where in the values), and by the API server when rendered
    // without the schema: the schema refuses nothing the API server would take.
    const refused: Array<[string, string]> = [
      ["[{}]", "/networkPolicy/metricsFrom/0"],
      ['[{"ipBlock":{"cidr":"10.0.0.0/8"},"podSelector":{}}]', "/networkPolicy/metricsFrom/0"],
      ['[{"podSelecter":{}}]', "/networkPolicy/metricsFrom/0"],
      ['[{"ipBlock":{"cidr":"10.0.0.0"}}]', "/networkPolicy/metricsFrom/0/ipBlock/cidr"],
      ['[{"ipBlock":{"cidr":"10.0.0.0/33"}}]', "/networkPolicy/metricsFrom/0/ipBlock/cidr"],
      [
        '[{"podSelector":{"matchExpressions":[{"key":"app","operator":"In"}]}}]',
        "/networkPolicy/metricsFrom/0/podSelector/matchExpressions/0",
      ],
      [
        '[{"podSelector":{"matchExpressions":[{"key":"app","operator":"Exists","values":["x"]}]}}]',
        "/networkPolicy/metricsFrom/0/podSelector/matchExpressions/0/values",
      ],
      [
        '[{"podSelector":{"matchLabels":{"app":"pro metheus"}}}]',
        "/networkPolicy/metricsFrom/0/podSelector/matchLabels/app",
      ],
      [
        '[{"podSelector":{"matchLabels":{"a b":"x"}}}]',
        "/networkPolicy/metricsFrom/0/podSelector/matchLabels",
      ],
    ];
    for (const [json, at] of refused) {
      const failure = await policy(json).then(
        () => "rendered",
        (error: { stderr: string }) => /^- at '([^']*)'/m.exec(error.stderr)?.[1] ?? error.stderr,
      );
      expect(failure, json).toBe(at);
      expect(await serverDryRun(await policy(json, "--skip-schema-validation")), json).toMatch(
        /is invalid|strict decoding error/,
      );
    }
    // The one refusal of the schema's own: a rule without peers admits every source, the opposite of
    // what an empty list reads as.
    expect(
      await policy("[]").then(
        () => "rendered",
        (error: { stderr: string }) => error.stderr,
      ),
    ).toMatch(/'\/networkPolicy\/metricsFrom': minItems: got 0, want 1/);
  });

  it("lets the cluster-wide ServiceAccount do what the controllers do, and nothing more", async () => {
    const release = await install("rbac-cluster");
    for (const [verb, resource] of [
      ["watch", "embeddingmodels.jude.dev"],
      // An owner is read live before its child is adopted (OwnerDeleted).
      ["get", "nearlinepipelines.jude.dev"],
      ["patch", "nearlinepipelines.jude.dev/status"],
      ["create", "bootstrapruns.jude.dev"],
      ["patch", "deployments.apps"],
      ["create", "services"],
      ["delete", "configmaps"],
      ["create", "poddisruptionbudgets.policy"],
      ["patch", "horizontalpodautoscalers.autoscaling"],
      ["create", "jobs.batch"],
      // A bootstrap Job writing to a store its run's pipeline left is replaced.
      ["delete", "jobs.batch"],
      ["list", "pods"],
      ["get", "secrets"],
      ["get", "persistentvolumeclaims"],
      ["create", "events"],
      // A bootstrap Job's FailedCreate Events say why its shard pods are refused, a serving pod's
      // Unhealthy Events why its probe fails.
      ["list", "events"],
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
      ["watch", "events"],
      ["create", "clusterroles.rbac.authorization.k8s.io"],
      ["delete", "namespaces"],
    ])
      expect(await can(release, verb!, resource!, "recs"), `${verb} ${resource}`).toBe(false);
  });

  it("lets people who may view or edit a namespace read or change its JUDE resources", async () => {
    const namespace = "rbac-users";
    await kubectl(["create", "namespace", namespace]).catch(() => undefined);
    try {
      await install("rbac-users-op");
      await kubectl([
        "create",
        "rolebinding",
        "viewer",
        "--clusterrole=view",
        "--user=alice",
        "-n",
        namespace,
      ]);
      await kubectl(["create", "rolebinding", "editor", "--clusterrole=edit", "--user=bob", "-n", namespace]);
      // The controller manager aggregates the chart's roles into view and edit shortly after install.
      await waitFor(
        "view and edit to take in the chart's roles",
        async () =>
          (await canAs("alice", "list", "embeddingmodels.jude.dev", namespace)) &&
          (await canAs("bob", "patch", "embeddingmodels.jude.dev", namespace)),
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      for (const resource of ["nearlinepipelines.jude.dev", "bootstrapruns.jude.dev"]) {
        expect(await canAs("alice", "watch", resource, namespace), resource).toBe(true);
        expect(await canAs("bob", "delete", resource, namespace), resource).toBe(true);
      }
      expect(await canAs("alice", "patch", "embeddingmodels.jude.dev", namespace)).toBe(false);
      expect(await canAs("alice", "list", "embeddingmodels.jude.dev", "default")).toBe(false);
      expect(await canAs("bob", "patch", "embeddingmodels.jude.dev", "default")).toBe(false);
    } finally {
      await kubectl(["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
    }
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

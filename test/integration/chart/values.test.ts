/**
 * Values as a platform team sets them: the chart as a dependency of an umbrella chart (Helm hands every
 * dependency a `global` map), and values that rendered but failed later, in the cluster: workload
 * placement the operator refuses at start (a crash loop after a "successful" install), tolerations the
 * API server refuses (the operator's Deployment half-way through an install, or every workload), leader
 * election timings over the operator's limit, an `extraEnv`
 * entry that repeats a variable (a later upgrade leaves the live Deployment unlike the manifest), a
 * ServiceMonitor without the Service it selects (nothing scraped, nothing said); and scrape intervals
 * prometheus-operator takes that the schema refused.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { loadOperatorConfig } from "../../../operator/config.ts";
import { helm } from "../../support/helm.ts";
import { kubectl } from "../../support/kubectl.ts";
import { repoRoot } from "../../testbed/paths.ts";

const chart = join(repoRoot, "charts/jude-operator");
const scratch = mkdtempSync(join(tmpdir(), "jude-chart-values-"));
/** The one release a test installs (with no operator pods), uninstalled at the end. */
let release: { name: string; namespace: string } | undefined;
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  if (release === undefined) return;
  await helm(["uninstall", release.name, "-n", release.namespace]).catch(() => undefined);
  await kubectl(["delete", "namespace", release.namespace, "--wait=false"]).catch(() => undefined);
});

interface Rendered {
  kind: string;
  spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
}

/**
 * `helm template` of a chart with `--set` values: "rendered", or where (the innermost place the schema
 * names) or why (a template's message) helm refused them.
 */
async function refusal(chartPath: string, ...set: string[]): Promise<string> {
  return template(chartPath, ...set).then(
    () => "rendered",
    (error: { stderr: string }) =>
      [...error.stderr.matchAll(/^\s*- at '([^']*)'/gm)].at(-1)?.[1] ??
      /execution error at [^:]+:\d+:\d+\): (.*)/.exec(error.stderr)?.[1] ??
      error.stderr,
  );
}

function template(chartPath: string, ...set: string[]): Promise<string> {
  return helm([
    "template",
    "jude",
    chartPath,
    "--namespace",
    "jude-system",
    "--kube-version",
    "1.34.0",
    ...setFlags(set),
  ]);
}

/** `--set` flags of values; an entry that is a flag itself (`--set-json=…`) passes as it is. */
function setFlags(set: string[]): string[] {
  return set.flatMap((value) => (value.startsWith("--") ? [value] : ["--set", value]));
}

/** The operator's arguments as a chart renders them with `--set` values. */
async function operatorArgs(chartPath: string, ...set: string[]): Promise<string[]> {
  const deployment = parseAllDocuments(await template(chartPath, ...set))
    .map((document) => document.toJS() as Rendered | null)
    .find((object) => object?.kind === "Deployment");
  return deployment!.spec.template.spec.containers[0]!.args;
}

/** The operator's Deployment as the chart renders it in `default` with `--set` values (and flags). */
function deployment(set: string[], ...flags: string[]): Promise<string> {
  return helm([
    "template",
    "jude",
    chart,
    "--namespace",
    "default",
    "--kube-version",
    "1.34.0",
    "--show-only",
    "templates/deployment.yaml",
    ...setFlags(set),
    ...flags,
  ]);
}

/** What the API server answers to applying the YAML (dry run): its output, or its refusal. */
function serverDryRun(yaml: string): Promise<string> {
  return kubectl(["apply", "--dry-run=server", "-f", "-"], yaml).then(
    (output) => output.trim(),
    (error: { stderr: string }) => error.stderr,
  );
}

/** The longest label key: a DNS-subdomain prefix of 253 characters, '/', a name of 63 (317 in all). */
const longestKey = `${`${"a".repeat(62)}.`.repeat(5).slice(0, 252)}b/${"n".repeat(63)}`;

describe("the jude-operator chart's values", () => {
  it("renders as a dependency of an umbrella chart, which hands it a global map", async () => {
    // Helm gives every dependency `global` (empty unless the parent sets one): the schema refused it
    // ("additional properties 'global' not allowed"), so no umbrella chart could include this one.
    const umbrella = join(scratch, "platform");
    cpSync(chart, join(umbrella, "charts/jude-operator"), { recursive: true });
    const { version } = parse(readFileSync(join(chart, "Chart.yaml"), "utf8")) as { version: string };
    writeFileSync(
      join(umbrella, "Chart.yaml"),
      stringify({
        apiVersion: "v2",
        name: "platform",
        version: "1.0.0",
        dependencies: [{ name: "jude-operator", version }],
      }),
    );
    writeFileSync(join(umbrella, "values.yaml"), "jude-operator:\n  watchNamespaces: [recs]\n");
    expect(await operatorArgs(umbrella)).toContain("--namespaces=recs");
    expect(await helm(["lint", "--strict", umbrella, "--kube-version", "1.34.0"])).toContain(
      "0 chart(s) failed",
    );
    expect(await operatorArgs(umbrella, "global.imageRegistry=registry.example.com")).toContain(
      "--namespaces=recs",
    );
    // A misspelt key is still refused, in the dependency and alone.
    expect(await refusal(umbrella, "jude-operator.watchNamespace={recs}")).toBe("");
    expect(await refusal(chart, "watchNamespace={recs}")).toBe("");
    expect(await refusal(chart, "global=x")).toBe("/global");
  });

  it("refuses workload placement the operator would refuse at start, and hands it what it accepts", async () => {
    // Each rendered, and the operator exited at start ("invalid operator configuration"): a crash loop
    // after helm install had succeeded.
    const refused: Array<[string[], string]> = [
      [["workloads.nodeSelector.pool\\ name=jude"], "/workloads/nodeSelector"],
      [["workloads.nodeSelector.Example\\.com/pool=jude"], "/workloads/nodeSelector"],
      [
        Array.from({ length: 33 }, (_, index) => `workloads.nodeSelector.label-${index}=x`),
        "/workloads/nodeSelector",
      ],
      [
        ["workloads.tolerations[0].operator=Exists", "workloads.tolerations[0].value=jude"],
        "/workloads/tolerations/0/value",
      ],
      [["workloads.tolerations[0].value=jude"], "/workloads/tolerations/0"],
      // The operator refuses these as the API server refuses them in every Deployment it applies.
      [
        [
          "workloads.tolerations[0].key=dedicated",
          "workloads.tolerations[0].effect=NoSchedule",
          "workloads.tolerations[0].tolerationSeconds=60",
        ],
        "/workloads/tolerations/0/effect",
      ],
      [["workloads.tolerations[0].key=dedicated pool"], "/workloads/tolerations/0/key"],
      [
        ["workloads.tolerations[0].key=dedicated", "workloads.tolerations[0].value=" + "x".repeat(64)],
        "/workloads/tolerations/0/value",
      ],
    ];
    const results = await Promise.all(refused.map(([set]) => refusal(chart, ...set)));
    expect(refused.map(([set], index) => [set, results[index]])).toEqual(refused);
    const accepted = [
      ["workloads.nodeSelector.example\\.com/pool=jude", "workloads.nodeSelector.zone=a"],
      Array.from({ length: 32 }, (_, index) => `workloads.nodeSelector.label-${index}=x`),
      ["workloads.tolerations[0].operator=Exists"],
      ["workloads.tolerations[0].key=dedicated", "workloads.tolerations[0].operator=Exists"],
      ["workloads.tolerations[0].key=dedicated", "workloads.tolerations[0].value=jude"],
      // What a Pod and the operator take, and the schema refused: a negative tolerationSeconds (evicted
      // at once), "" as the omitted operator and effect, Exists with an empty value, a 317-character key.
      [
        "workloads.tolerations[0].key=dedicated",
        "workloads.tolerations[0].effect=NoExecute",
        "workloads.tolerations[0].tolerationSeconds=-1",
      ],
      ['--set-json=workloads.tolerations=[{"key":"dedicated","operator":"","value":"jude","effect":""}]'],
      ['--set-json=workloads.tolerations=[{"key":"dedicated","operator":"Exists","value":""}]'],
      [`workloads.tolerations[0].key=${longestKey}`, "workloads.tolerations[0].operator=Exists"],
    ];
    for (const set of accepted) {
      const args = (await operatorArgs(chart, ...set)).slice(1);
      expect(() => loadOperatorConfig(args, {}), set.join(" ")).not.toThrow();
    }
  });

  it("refuses in the schema the operator pod's tolerations the API server would refuse half-way", async () => {
    // Each rendered, and the API server refused the Deployment after the CRDs, RBAC and Service were
    // written: a failed release.
    const refused: Array<[string[], string]> = [
      [
        ["tolerations[0].key=a", "tolerations[0].effect=NoSchedule", "tolerations[0].tolerationSeconds=5"],
        "/tolerations/0/effect",
      ],
      [["tolerations[0].key=a", "tolerations[0].tolerationSeconds=5"], "/tolerations/0"],
      [["tolerations[0].operator=Exists", "tolerations[0].value=x"], "/tolerations/0/value"],
      [["tolerations[0].value=x"], "/tolerations/0"],
      [["tolerations[0].key=a b", "tolerations[0].operator=Exists"], "/tolerations/0/key"],
      [["tolerations[0].key=a", "tolerations[0].value=x y"], "/tolerations/0/value"],
    ];
    const results = await Promise.all(refused.map(([set]) => refusal(chart, ...set)));
    expect(refused.map(([set], index) => [set, results[index]])).toEqual(refused);
    for (const [set] of refused) {
      expect(await serverDryRun(await deployment(set, "--skip-schema-validation")), set.join(" ")).toMatch(
        /is invalid/,
      );
    }
    const accepted = [
      ["tolerations[0].operator=Exists"],
      ["tolerations[0].operator=Exists", "tolerations[0].value="],
      [
        "tolerations[0].key=a",
        "tolerations[0].operator=",
        "tolerations[0].value=x",
        "tolerations[0].effect=",
      ],
      // An empty key with Exists tolerates every taint (a values file's `key: ""`; `--set key=` drops it).
      ['--set-json=tolerations=[{"key":"","operator":"Exists"}]'],
      [
        "tolerations[0].key=node.kubernetes.io/unreachable",
        "tolerations[0].operator=Exists",
        "tolerations[0].effect=NoExecute",
        "tolerations[0].tolerationSeconds=30",
      ],
    ];
    for (const set of accepted)
      expect(await serverDryRun(await deployment(set)), set.join(" ")).toBe(
        "deployment.apps/jude-jude-operator created (server dry run)",
      );
  });

  it("takes the operator pod's tolerations and resource names a Pod takes", async () => {
    // The schema refused a key of 317 characters (the longest label key) and an extended resource whose
    // prefix has no dot (device plugins' smarter-devices/fuse), both of which the API server takes.
    const accepted = [
      [`tolerations[0].key=${longestKey}`, "tolerations[0].operator=Exists"],
      ["tolerations[0].key=a", "tolerations[0].effect=NoExecute", "tolerations[0].tolerationSeconds=-1"],
      ["resources.limits.smarter-devices/fuse=1"],
      ["resources.requests.smarter-devices/fuse=1", "resources.limits.smarter-devices/fuse=1"],
    ];
    for (const set of accepted)
      expect(await serverDryRun(await deployment(set)), set.join(" ")).toBe(
        "deployment.apps/jude-jude-operator created (server dry run)",
      );
    // Just beyond: a 254-character prefix, an underscore in a resource prefix.
    const refused: Array<[string[], string]> = [
      [
        [`tolerations[0].key=${longestKey.replace("/", "a/")}`, "tolerations[0].operator=Exists"],
        "/tolerations/0/key",
      ],
      [["resources.limits.smarter_devices/fuse=1"], "/resources/limits"],
    ];
    const results = await Promise.all(refused.map(([set]) => refusal(chart, ...set)));
    expect(refused.map(([set], index) => [set, results[index]])).toEqual(refused);
    for (const [set] of refused)
      expect(await serverDryRun(await deployment(set, "--skip-schema-validation")), set.join(" ")).toMatch(
        /is invalid/,
      );
  });

  it("takes a toleration with an empty key and operator Exists, for the workloads too", async () => {
    // The API server and the operator take `key: ""` with Exists (every taint); the schema's label-key
    // pattern refused it, and the schema before took it: an upgrade of such a release failed.
    const everyTaint = (path: string) => `--set-json=${path}=[{"key":"","operator":"Exists"}]`;
    expect(await refusal(chart, everyTaint("tolerations"))).toBe("rendered");
    const args = (await operatorArgs(chart, everyTaint("workloads.tolerations"))).slice(1);
    expect(loadOperatorConfig(args, {}).workloadTolerations).toEqual([{ key: "", operator: "Exists" }]);
    // An empty key without Exists stays refused: the API server refuses it in every workload.
    expect(
      await refusal(chart, '--set-json=workloads.tolerations=[{"key":"","operator":"Equal","value":"x"}]'),
    ).toBe("/workloads/tolerations/0/operator");
    expect(await refusal(chart, '--set-json=tolerations=[{"key":"","value":"x"}]')).toBe("/tolerations/0");
  });

  it("refuses a label key with a prefix over 253 characters, which the operator and the API server refuse", async () => {
    // The schema bounded the name (63) but not the prefix: a workload node selector with a longer one
    // rendered, and the operator exited at start; the API server refused the operator's own Deployment.
    const prefix = (length: number) => `${"a".repeat(62)}.`.repeat(5).slice(0, length - 1) + "b";
    const key = (length: number, name: string) => `${prefix(length).replaceAll(".", "\\.")}/${name}`;
    const tooLong = `${prefix(254)}~1x`;
    for (const values of ["workloads.nodeSelector", "nodeSelector", "podLabels", "podAnnotations"])
      expect(await refusal(chart, `${values}.${key(254, "x")}=v`), values).toBe(
        `/${values.replace(".", "/")}/${tooLong}`,
      );
    const refusedArgs = (
      await operatorArgs(chart, `workloads.nodeSelector.${key(254, "x")}=v`, "--skip-schema-validation")
    ).slice(1);
    expect(() => loadOperatorConfig(refusedArgs, {})).toThrow(/--workload-node-selector/);
    expect(
      await serverDryRun(await deployment([`nodeSelector.${key(254, "x")}=v`], "--skip-schema-validation")),
    ).toMatch(/is invalid/);
    // The longest key both take: a prefix of 253 characters and a name of 63.
    const longest = key(253, "n".repeat(63));
    const args = (
      await operatorArgs(chart, `workloads.nodeSelector.${longest}=v`, `nodeSelector.${longest}=v`)
    ).slice(1);
    expect(Object.keys(loadOperatorConfig(args, {}).workloadNodeSelector ?? {})).toEqual([
      `${prefix(253)}/${"n".repeat(63)}`,
    ]);
    expect(await serverDryRun(await deployment([`nodeSelector.${longest}=v`]))).toBe(
      "deployment.apps/jude-jude-operator created (server dry run)",
    );
  });

  it("refuses leader-election timings over a day, which the operator refuses at start", async () => {
    // The schema set no maximum: a lease of 100000 s rendered, and the operator exited with
    // "--lease-duration-seconds: Too big: expected number to be <=86400".
    const election = (lease: number, renew: number, retry: number) =>
      refusal(
        chart,
        `leaderElection.leaseDurationSeconds=${lease}`,
        `leaderElection.renewDeadlineSeconds=${renew}`,
        `leaderElection.retryPeriodSeconds=${retry}`,
      );
    expect(await election(86_401, 60, 2)).toBe("/leaderElection/leaseDurationSeconds");
    expect(await election(15, 86_401, 2)).toBe("/leaderElection/renewDeadlineSeconds");
    expect(await election(15, 10, 86_401)).toBe("/leaderElection/retryPeriodSeconds");
    const longest = [
      "leaderElection.leaseDurationSeconds=86400",
      "leaderElection.renewDeadlineSeconds=86399",
      "leaderElection.retryPeriodSeconds=86398",
    ];
    const args = (await operatorArgs(chart, ...longest)).slice(1);
    expect(() => loadOperatorConfig(args, {})).not.toThrow();
  });

  it("refuses an extraEnv variable that the chart sets or that it names twice", async () => {
    // Rendered twice in the container's env; `helm upgrade` then computes its patch by name, and an
    // upgrade that dropped the entry left it in the live Deployment (the operator kept its NODE_OPTIONS).
    const env = (...pairs: string[]) =>
      pairs.flatMap((pair, index) => {
        const [name, value] = [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)];
        return [`extraEnv[${index}].name=${name}`, `extraEnv[${index}].value=${value}`];
      });
    expect(await refusal(chart, ...env("NODE_OPTIONS=--max-old-space-size=300"))).toBe(
      "extraEnv sets NODE_OPTIONS, which the chart sets itself: set nodeOptions instead",
    );
    expect(await refusal(chart, ...env("POD_NAME=x"))).toBe(
      "extraEnv sets POD_NAME, which the chart sets itself: leave it out",
    );
    expect(await refusal(chart, ...env("TZ=UTC", "TZ=CET"))).toBe("extraEnv sets TZ twice: keep one");
    // Without nodeOptions the chart sets no NODE_OPTIONS, and extraEnv may.
    expect(
      await refusal(chart, "nodeOptions=", ...env("NODE_OPTIONS=--max-old-space-size=300", "TZ=UTC")),
    ).toBe("rendered");
  });

  it("takes the scrape intervals prometheus-operator takes, and refuses what it refuses", async () => {
    // The schema took one number and one unit: `1m30s`, which the monitors' CRDs take (their Duration,
    // units y w d h m s ms in that order), was refused.
    for (const monitor of ["serviceMonitor", "podMonitor"]) {
      const interval = (value: string) =>
        refusal(chart, `metrics.${monitor}.enabled=true`, `metrics.${monitor}.interval=${value}`);
      for (const value of ["30s", "1m30s", "1h", "500ms", "2m15s500ms"])
        expect(await interval(value), `${monitor} ${value}`).toBe("rendered");
      for (const value of ["30", "1s30m", "1.5m", "30 s", "30sec"])
        expect(await interval(value), `${monitor} ${value}`).toBe(`/metrics/${monitor}/interval`);
    }
  });

  it("moves a release's repeated NODE_OPTIONS to nodeOptions in two upgrades, as the chart's README says", async () => {
    // A chart before the refusal: the extraEnv check cut out of its Deployment template.
    const older = join(scratch, "older");
    cpSync(chart, older, { recursive: true });
    const deploymentPath = join(older, "templates/deployment.yaml");
    const withCheck = readFileSync(deploymentPath, "utf8");
    const withoutCheck = withCheck.replace(
      /\{\{- \/\*\nAn extraEnv entry[^]*?set \$named \.name true \}\}\n\{\{- end \}\}\n/,
      "",
    );
    expect(withoutCheck).not.toContain("extraEnv sets");
    writeFileSync(deploymentPath, withoutCheck);
    const name = `values-env-${process.pid}`;
    const namespace = `${name}-system`;
    release = { name, namespace };
    await helm([
      ...["install", name, older, "-n", namespace, "--create-namespace"],
      ...["--set", "crds.install=false", "--set", "replicaCount=0", "--set", "userRoles.create=false"],
      ...["--set", "extraEnv[0].name=NODE_OPTIONS", "--set", "extraEnv[0].value=--max-old-space-size=300"],
    ]);
    const env = async () =>
      JSON.parse(
        await kubectl([
          ...["get", "deployment", `${name}-jude-operator`, "-n", namespace],
          ...["-o", "jsonpath={.spec.template.spec.containers[0].env}"],
        ]),
      ) as Array<{ name: string; value?: string }>;
    const nodeOptions = async () => (await env()).filter((variable) => variable.name === "NODE_OPTIONS");
    expect((await nodeOptions()).map((variable) => variable.value)).toEqual([
      "--max-old-space-size=256 --max-semi-space-size=8",
      "--max-old-space-size=300",
    ]);
    const upgrade = (...args: string[]) =>
      helm(["upgrade", name, chart, "-n", namespace, "--reuse-values", ...args]);
    await expect(upgrade("--set", "extraEnv=null")).rejects.toMatchObject({
      stderr: expect.stringContaining("extraEnv sets NODE_OPTIONS, which the chart sets itself") as unknown,
    });
    await upgrade("--set-json", "extraEnv=[]", "--set", "nodeOptions=--max-old-space-size=300");
    // What the README warns of: Helm's patch from two entries of one name dropped the variable.
    expect(await nodeOptions()).toEqual([]);
    await upgrade();
    expect(await nodeOptions()).toEqual([{ name: "NODE_OPTIONS", value: "--max-old-space-size=300" }]);
  });

  it("refuses a ServiceMonitor without the Service it selects", async () => {
    // Rendered, it selected no Service: Prometheus scraped nothing and no alert could fire.
    expect(await refusal(chart, "metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false")).toBe(
      "metrics.serviceMonitor.enabled selects the operator's metrics Service: set metrics.service.enabled=true too",
    );
    expect(await refusal(chart, "metrics.service.enabled=false")).toBe("rendered");
  });
});

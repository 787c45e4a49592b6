/**
 * The chart's alert rules, rendered by helm, pass `promtool check rules` and the promtool unit tests in
 * test/fixtures/chart/alert-tests*.yaml (each alert fires on the series it is about, with the labels and
 * annotations an on-call engineer reads, and stays quiet otherwise).
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, expect, it } from "vitest";
import { Registry } from "prom-client";
import { parse, stringify } from "yaml";
import { createPipelineMetrics } from "../../../pipelines/shared/metrics.ts";
import { errorKinds, ServingError, type ServingErrorCode } from "../../../serving/core/errors.ts";
import { codeLabel } from "../../../serving/transport/status-mapping.ts";
import { helm } from "../../support/helm.ts";
import { requireEnv } from "../../support/env.ts";
import { repoRoot } from "../../testbed/paths.ts";

const execFileAsync = promisify(execFile);
const directory = mkdtempSync(join(tmpdir(), "jude-alerts-"));
let groups: Array<{ name: string; rules: Array<{ alert: string; expr: string }> }> = [];

/** The chart's alert rule groups, rendered with `settings` (helm --set). */
async function renderGroups(...settings: string[]): Promise<typeof groups> {
  const rendered = await helm([
    "template",
    "jude",
    join(repoRoot, "charts/jude-operator"),
    "--kube-version",
    "1.34.0",
    ...["metrics.prometheusRule.enabled=true", ...settings].flatMap((setting) => ["--set", setting]),
    "--show-only",
    "templates/prometheusrule.yaml",
  ]);
  return (parse(rendered) as { spec: { groups: typeof groups } }).spec.groups;
}

/** Runs `promtool test rules` on a fixture copied into the rules' directory. */
async function promtoolTest(fixture: string): Promise<{ stdout: string; stderr: string; failed?: true }> {
  copyFileSync(join(repoRoot, "test/fixtures/chart", fixture), join(directory, fixture));
  return execFileAsync(requireEnv("JUDE_PROMTOOL"), ["test", "rules", join(directory, fixture)]).catch(
    (error: { stdout: string; stderr: string }) => ({
      stdout: error.stdout,
      stderr: error.stderr,
      failed: true,
    }),
  );
}

beforeAll(async () => {
  groups = await renderGroups();
  writeFileSync(join(directory, "rules.yaml"), stringify({ groups }));
  const slow = await renderGroups("metrics.prometheusRule.thresholds.nearlineLagSeconds=1800");
  writeFileSync(join(directory, "rules-slow.yaml"), stringify({ groups: slow }));
});

it("renders the alerts the chart documents", () => {
  expect(groups.flatMap((group) => group.rules.map((rule) => rule.alert)).sort()).toEqual([
    "JudeBootstrapDeadLetters",
    "JudeBootstrapDependencyUnavailable",
    "JudeBootstrapEmbeddingFailed",
    "JudeBootstrapFailed",
    "JudeNearlineConsumerLagGrowing",
    "JudeNearlineDeadLetters",
    "JudeNearlineDependencyUnavailable",
    "JudeNearlineEmbeddingErrors",
    "JudeNearlineEmbeddingFailed",
    "JudeNearlineFreshnessHigh",
    "JudeNearlineSourceRecordsLost",
    "JudeNearlineWorkersDown",
    "JudeNearlineWorkersNotProgressing",
    "JudeNearlineWriteContended",
    "JudeOperatorReconcileErrors",
    "JudePromotionStalled",
    "JudeReconcileFailing",
    "JudeServingErrors",
    "JudeServingOverloaded",
    "JudeStoreDataLost",
  ]);
});

it("passes promtool check rules", async () => {
  const { stdout } = await execFileAsync(requireEnv("JUDE_PROMTOOL"), [
    "check",
    "rules",
    join(directory, "rules.yaml"),
  ]);
  expect(stdout).toContain("SUCCESS: 20 rules found");
});

it.each(["alert-tests.yaml", "alert-tests-slow.yaml"])(
  "passes the promtool rule unit tests in %s",
  async (fixture) => {
    const result = await promtoolTest(fixture);
    expect(result, `${result.stdout}\n${result.stderr}`).not.toHaveProperty("failed");
    expect(result.stdout).toContain("SUCCESS");
  },
);

it("measures freshness up to the largest threshold the values schema accepts", async () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, "charts/jude-operator/values.schema.json"), "utf8"));
  const largest: number =
    schema.properties.metrics.properties.prometheusRule.properties.thresholds.properties.nearlineLagSeconds
      .exclusiveMaximum;
  const registry = new Registry();
  createPipelineMetrics(registry).freshness.observe({ pipeline: "recs/jobs", version: "v1" }, 1);
  const bounds = [
    ...(await registry.metrics()).matchAll(/jude_pipeline_freshness_seconds_bucket\{[^}]*le="([0-9.]+)"/g),
  ].map(([, bound]) => Number(bound));
  expect(Math.max(...bounds)).toBeGreaterThanOrEqual(largest);
  await expect(
    helm([
      "template",
      "jude",
      join(repoRoot, "charts/jude-operator"),
      "--set",
      `metrics.prometheusRule.thresholds.nearlineLagSeconds=${largest}`,
    ]),
  ).rejects.toThrow(/nearlineLagSeconds/);
});

it("counts as serving errors exactly the server's own failures, by the code labels the server records", () => {
  const rule = groups
    .flatMap((group) => group.rules)
    .find((candidate) => candidate.alert === "JudeServingErrors");
  const counted = /code=~"([^"]+)"/.exec(rule!.expr)![1]!.split("|").sort();
  const labelsOf = (kinds: readonly string[]) =>
    new Set(
      (Object.keys(errorKinds) as ServingErrorCode[])
        .filter((code) => kinds.includes(errorKinds[code]))
        .map((code) => codeLabel(new ServingError(code, "test"))),
    );
  expect(counted).toEqual([...labelsOf(["internal", "unavailable"])].sort());
  // Every label it counts is one the server records at all.
  const recorded = labelsOf(Object.values(errorKinds));
  expect(counted.filter((code) => !recorded.has(code))).toEqual([]);
});

/** Metric names the code registers with prom-client (`name: "jude_…"` in every non-test module). */
function registeredMetrics(): Set<string> {
  const names = new Set<string>();
  for (const folder of ["serving", "pipelines", "store", "operator", "controllers"])
    for (const file of readdirSync(join(repoRoot, folder), { recursive: true, encoding: "utf8" }))
      if (file.endsWith(".ts") && !file.endsWith(".test.ts"))
        for (const [, name] of readFileSync(join(repoRoot, folder, file), "utf8").matchAll(
          /name: "(jude_[a-z_]+)"/g,
        ))
          names.add(name!);
  return names;
}

it("queries only metrics the code registers, in the alerts and the dashboard", () => {
  const registered = registeredMetrics();
  const dashboard = readFileSync(join(repoRoot, "charts/jude-operator/files/dashboards/jude.json"), "utf8");
  const queried = [...`${stringify({ groups })}\n${dashboard}`.matchAll(/jude_[a-z_]+/g)].map(([name]) =>
    name.replace(/_(bucket|sum|count)$/, ""),
  );
  expect(queried.length).toBeGreaterThan(20);
  expect([...new Set(queried)].filter((name) => !registered.has(name))).toEqual([]);
});

it("the dashboard's queries are valid PromQL (promtool check rules on each as a recording rule)", async () => {
  const dashboard = JSON.parse(
    readFileSync(join(repoRoot, "charts/jude-operator/files/dashboards/jude.json"), "utf8"),
  ) as { panels: Array<{ id: number; targets: Array<{ refId: string; expr: string }> }> };
  const rules = dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({
      record: `dashboard:panel${panel.id}_${target.refId}`,
      expr: target.expr,
    })),
  );
  writeFileSync(
    join(directory, "dashboard-queries.yaml"),
    stringify({ groups: [{ name: "dashboard", rules }] }),
  );
  const { stdout } = await execFileAsync(requireEnv("JUDE_PROMTOOL"), [
    "check",
    "rules",
    join(directory, "dashboard-queries.yaml"),
  ]);
  expect(rules.length).toBeGreaterThan(15);
  expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
});

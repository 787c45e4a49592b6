/**
 * The chart's alert rules, rendered by helm, pass `promtool check rules` and the promtool unit tests in
 * test/fixtures/chart/alert-tests.yaml (each alert fires on the series it is about, with the labels and
 * annotations an on-call engineer reads, and stays quiet otherwise).
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { helm } from "../../support/helm.ts";
import { requireEnv } from "../../support/env.ts";
import { repoRoot } from "../../testbed/paths.ts";

const execFileAsync = promisify(execFile);
const directory = mkdtempSync(join(tmpdir(), "jude-alerts-"));
let groups: Array<{ name: string; rules: Array<{ alert: string }> }> = [];

beforeAll(async () => {
  const rendered = await helm([
    "template",
    "jude",
    join(repoRoot, "charts/jude-operator"),
    "--kube-version",
    "1.34.0",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--show-only",
    "templates/prometheusrule.yaml",
  ]);
  groups = (parse(rendered) as { spec: { groups: typeof groups } }).spec.groups;
  writeFileSync(join(directory, "rules.yaml"), stringify({ groups }));
  copyFileSync(join(repoRoot, "test/fixtures/chart/alert-tests.yaml"), join(directory, "alert-tests.yaml"));
});

it("renders the alerts the chart documents", () => {
  expect(groups.flatMap((group) => group.rules.map((rule) => rule.alert)).sort()).toEqual([
    "JudeBootstrapFailed",
    "JudeNearlineConsumerLagGrowing",
    "JudeNearlineDeadLetters",
    "JudeNearlineFreshnessHigh",
    "JudeOperatorReconcileErrors",
    "JudePromotionStalled",
    "JudeReconcileFailing",
    "JudeServingErrors",
    "JudeServingOverloaded",
  ]);
});

it("passes promtool check rules", async () => {
  const { stdout } = await execFileAsync(requireEnv("JUDE_PROMTOOL"), [
    "check",
    "rules",
    join(directory, "rules.yaml"),
  ]);
  expect(stdout).toContain("SUCCESS: 9 rules found");
});

it("passes the promtool rule unit tests", async () => {
  const result = await execFileAsync(requireEnv("JUDE_PROMTOOL"), [
    "test",
    "rules",
    join(directory, "alert-tests.yaml"),
  ]).catch((error: { stdout: string; stderr: string }) => ({
    stdout: error.stdout,
    stderr: error.stderr,
    failed: true,
  }));
  expect(result, `${result.stdout}\n${result.stderr}`).not.toHaveProperty("failed");
  expect(result.stdout).toContain("SUCCESS");
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

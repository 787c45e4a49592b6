// One default, stated in three places: the operator's zod config (what `jude operator` does when run
// by hand), the chart's values.yaml (what `helm install` passes) and the READMEs. A drift between them
// makes the same flag mean different things depending on how the operator was started.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { defaultImageRepository } from "../../controllers/shared/image.ts";
import { loadOperatorConfig } from "../../operator/config.ts";
import { decode } from "../../crds/nearline-pipeline.ts";
import { parseServingConfig } from "../../serving/config.ts";
import { codeBlocks, readDocument, repoRoot } from "./markdown.ts";

const chartDir = join(repoRoot, "charts/jude-operator");
const values = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as {
  image: { repository: string; tag: string };
  leaderElection: Record<string, unknown>;
  concurrency: number;
  drainSeconds: number;
  reconcileErrorAfterSeconds: number;
  retryMaxDelaySeconds: number;
  pipelinePollSeconds: number | null;
  logLevel: string;
  metrics: { port: number };
};
const chart = parse(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as {
  version: string;
  appVersion: string;
};
const packageVersion = (JSON.parse(readDocument("package.json")) as { version: string }).version;
const operatorDefaults = loadOperatorConfig([], {});

describe("defaults", () => {
  it("the operator, the chart and the package name one release", () => {
    expect(chart.appVersion).toBe(packageVersion);
    expect(operatorDefaults.imageTag).toBe(packageVersion);
    expect(values.image.tag).toBe(""); // the chart's appVersion
    expect(values.image.repository).toBe(defaultImageRepository);
    expect(operatorDefaults.imageRepository).toBe(defaultImageRepository);
  });

  it("the chart passes the operator's own defaults", () => {
    expect({
      leaseDurationSeconds: values.leaderElection.leaseDurationSeconds,
      renewDeadlineSeconds: values.leaderElection.renewDeadlineSeconds,
      retryPeriodSeconds: values.leaderElection.retryPeriodSeconds,
      leaderElect: values.leaderElection.enabled,
      concurrency: values.concurrency,
      drainSeconds: values.drainSeconds,
      reconcileErrorAfterSeconds: values.reconcileErrorAfterSeconds,
      retryMaxDelaySeconds: values.retryMaxDelaySeconds,
      httpPort: values.metrics.port,
    }).toEqual({
      leaseDurationSeconds: operatorDefaults.leaseDurationSeconds,
      renewDeadlineSeconds: operatorDefaults.renewDeadlineSeconds,
      retryPeriodSeconds: operatorDefaults.retryPeriodSeconds,
      leaderElect: operatorDefaults.leaderElect,
      concurrency: operatorDefaults.concurrency,
      drainSeconds: operatorDefaults.drainSeconds,
      reconcileErrorAfterSeconds: operatorDefaults.reconcileErrorAfterSeconds,
      retryMaxDelaySeconds: operatorDefaults.retryMaxDelaySeconds,
      httpPort: operatorDefaults.httpPort,
    });
    expect(values.logLevel).toBe("info"); // the operator's default when --log-level is absent
    expect(values.pipelinePollSeconds).toBeNull(); // no flag: the operator's own default
  });

  it("the README's Helm table names every value of values.yaml", () => {
    const readme = readDocument("README.md");
    const raw = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as Record<string, unknown>;
    const keys = Object.keys(raw).flatMap((key) =>
      key === "metrics" ? Object.keys(raw.metrics as object).map((sub) => `metrics.${sub}`) : [key],
    );
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((key) => !new RegExp(`\`${key.replace(".", "\\.")}[\`.]`).test(readme))).toEqual([]);
  });

  it("the README states the operator's flag defaults", () => {
    const readme = readDocument("README.md");
    const flags: Record<string, unknown> = {
      "lease-duration-seconds": operatorDefaults.leaseDurationSeconds,
      "renew-deadline-seconds": operatorDefaults.renewDeadlineSeconds,
      "retry-period-seconds": operatorDefaults.retryPeriodSeconds,
      "http-port": operatorDefaults.httpPort,
      concurrency: operatorDefaults.concurrency,
      "watch-stale-seconds": operatorDefaults.watchStaleSeconds,
      "drain-seconds": operatorDefaults.drainSeconds,
      "reconcile-error-after-seconds": operatorDefaults.reconcileErrorAfterSeconds,
      "retry-qps": operatorDefaults.retryQps,
      "retry-burst": operatorDefaults.retryBurst,
      "retry-max-delay-seconds": operatorDefaults.retryMaxDelaySeconds,
      "pipeline-poll-seconds": operatorDefaults.pipelinePollSeconds,
    };
    const missing = Object.entries(flags)
      .map(([flag, value]) => `\`--${flag} ${String(value)}\``)
      .filter((shown) => !readme.includes(shown));
    expect(missing, "README.md's Operator section shows these defaults").toEqual([]);
  });
});

describe("defaults in the READMEs", () => {
  it("serving/README.md's config shows jude serve's defaults for batching, limits, backend and listen", () => {
    const block = codeBlocks("serving/README.md").find(
      (each) => each.heading === "The model directory and the serving config" && each.language === "yaml",
    );
    const shown = parse(block!.text) as Record<string, Record<string, unknown>>;
    const defaults = parseServingConfig({ modelDir: "/m" }) as unknown as Record<
      string,
      Record<string, unknown>
    >;
    for (const section of ["batching", "limits", "backend", "listen"])
      for (const [key, value] of Object.entries(shown[section]!))
        expect(value, `${section}.${key}`).toEqual(defaults[section]![key]);
    expect(shown.drainTimeoutMs).toBe(defaults.drainTimeoutMs);
  });

  it("the README states decode.maxEventTimeAheadSeconds' default", () => {
    const fallback = decode.parse({}).maxEventTimeAheadSeconds;
    expect(readDocument("README.md")).toContain(`\`decode.maxEventTimeAheadSeconds\` (${fallback}`);
  });
});

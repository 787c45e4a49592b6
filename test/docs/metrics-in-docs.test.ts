// Every metric the documentation names (in full, as a prefix table row, or shortened to `_suffix` after
// a full name) is one the code registers, with the labels it is shown with. An operator writing a
// query or an alert from the README must not find an empty series.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { bootstrapFailedGauge, bootstrapShardGauges } from "../../controllers/bootstrap-run/run-metrics.ts";
import { promotionMetrics } from "../../controllers/embedding-model/promotion-metrics.ts";
import { workerGauges } from "../../controllers/nearline-pipeline/worker-metrics.ts";
import { createOperatorMetrics } from "../../operator/runtime/metrics.ts";
import { DependencyWait, registerDependencyWaitMetric } from "../../pipelines/shared/dependency-wait.ts";
import {
  collectPipelineProcessMetrics,
  createBootstrapMetrics,
  createPipelineMetrics,
} from "../../pipelines/shared/metrics.ts";
import { createReplayMetrics } from "../../pipelines/nearline/store-offsets.ts";
import { createServingMetrics } from "../../serving/metrics.ts";
import { createStoreMetrics } from "../../store/metrics.ts";
import type { WriteOutcome } from "../../store/writer.ts";
import { documentationFiles, paragraphs, readDocument, repoRoot } from "./markdown.ts";

/** Metric name -> label names, from the registries every process builds. */
function registeredMetrics(): Map<string, Set<string>> {
  const controllers = new Registry();
  promotionMetrics(controllers);
  bootstrapFailedGauge(controllers);
  bootstrapShardGauges(controllers);
  workerGauges(controllers);
  const pipelines = new Registry();
  createPipelineMetrics(pipelines);
  createBootstrapMetrics(pipelines);
  createReplayMetrics(pipelines);
  createStoreMetrics(pipelines);
  collectPipelineProcessMetrics(pipelines);
  registerDependencyWaitMetric(pipelines, { pipeline: "", version: "" }, new DependencyWait());
  const registries = [
    createOperatorMetrics().registry,
    createServingMetrics({ inFlight: () => 0, inFlightCalls: () => 0 }).registry,
    controllers,
    pipelines,
  ];
  const metrics = new Map<string, Set<string>>();
  for (const registry of registries)
    for (const metric of registry.getMetricsAsArray()) {
      const { name, labelNames } = metric as unknown as { name: string; labelNames?: string[] };
      const labels = new Set(labelNames ?? []);
      metrics.set(name, labels);
      if (metric.constructor.name === "Histogram") {
        metrics.set(`${name}_bucket`, new Set([...labels, "le"]));
        metrics.set(`${name}_sum`, labels);
        metrics.set(`${name}_count`, labels);
      }
    }
  return metrics;
}

/** A metric as a document shows it: its name and the labels written after it. */
interface Mention {
  where: string;
  name: string;
  labels: string[];
}

const labelsPattern = String.raw`(?:\{([^}]*)\})?`;

/** Label names in `{a,b="x",...,c}` (values and ellipses dropped). */
function labelNames(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(",")
    .map((label) => label.split("=")[0]!.trim())
    .filter((label) => /^[a-z_]+$/.test(label));
}

/** Every metric named in `file`. */
function mentions(file: string): Mention[] {
  const found: Mention[] = [];
  let headingPrefix: string | undefined;
  for (const paragraph of paragraphs(file)) {
    const where = `${file}: ${paragraph.slice(0, 60)}…`;
    // Full names; a name ending in "_" is a prefix, whose table row, paragraph or section (when the
    // heading names it) lists short names.
    let lastPart: string | undefined;
    let prefix = headingPrefix;
    headingPrefix = undefined;
    for (const match of paragraph.matchAll(
      new RegExp(`\\b(jude_[a-z0-9_]*[a-z0-9])(_?)${labelsPattern}`, "g"),
    )) {
      if (match[2] === "_") prefix ??= `${match[1]}_`;
      else {
        found.push({ where, name: match[1]!, labels: labelNames(match[3]) });
        lastPart ??= /^jude_[a-z]+/.exec(match[1]!)![0];
      }
    }
    for (const match of paragraph.matchAll(
      new RegExp(`\`(_[a-z][a-z0-9_]*|[a-z][a-z0-9]*_[a-z0-9_]*)${labelsPattern}\``, "g"),
    )) {
      const short = match[1]!;
      if (short.startsWith("jude_")) continue;
      if (short.startsWith("_") && lastPart !== undefined)
        found.push({ where, name: `${lastPart}${short}`, labels: labelNames(match[2]) });
      else if (!short.startsWith("_") && prefix !== undefined)
        found.push({ where, name: `${prefix}${short}`, labels: labelNames(match[2]) });
    }
    if (paragraph.startsWith("#")) headingPrefix = prefix;
  }
  return found;
}

describe("metrics named in the documentation", () => {
  const registered = registeredMetrics();
  const named = documentationFiles.flatMap(mentions);

  it("are found in every part's section", () => {
    for (const part of ["operator", "serving", "pipeline", "store", "promotion"])
      expect(
        named.filter((mention) => mention.name.startsWith(`jude_${part}_`)).length,
        part,
      ).toBeGreaterThanOrEqual(5);
  });

  it("are registered by the code", () => {
    const unknown = named.filter((mention) => !registered.has(mention.name));
    expect(unknown.map((mention) => `${mention.name} (${mention.where})`)).toEqual([]);
  });

  it("carry the labels they are shown with", () => {
    const wrong = named.flatMap((mention) => {
      const labels = registered.get(mention.name);
      const missing = mention.labels.filter((label) => labels !== undefined && !labels.has(label));
      return missing.length === 0 ? [] : [`${mention.name}{${missing.join(",")}} (${mention.where})`];
    });
    expect(wrong).toEqual([]);
  });
});

describe("the README's metrics table", () => {
  // Labels every metric of a part carries, said once under the table rather than on each row.
  const common = new Set(["pipeline", "version", "store"]);

  it("shows each metric with all its other labels", () => {
    const readme = readDocument("README.md");
    const start = readme.indexOf("\n## Metrics\n");
    const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
    const registered = registeredMetrics();
    const wrong: string[] = [];
    let rows = 0;
    for (const [, prefix, cell] of section.matchAll(/^\| `(jude_[a-z]+_)`\s*\|(.*)\|$/gm)) {
      rows++;
      for (const match of cell!.matchAll(/`([a-z][a-z0-9_]*)(?:\{([^}]*)\})?`/g)) {
        const name = `${prefix}${match[1]}`;
        const labels = registered.get(name);
        if (labels === undefined) {
          wrong.push(`${name} (not registered)`);
          continue;
        }
        const expected = [...labels].filter((label) => !common.has(label)).sort();
        const shown = labelNames(match[2]).sort();
        if (shown.join(",") !== expected.join(","))
          wrong.push(`${name}{${shown.join(",")}}: registered with {${expected.join(",")}}`);
      }
    }
    expect(rows).toBe(3);
    expect(wrong).toEqual([]);
  });
});

describe("metrics the chart queries", () => {
  const registered = registeredMetrics();

  it.each([
    "charts/jude-operator/templates/prometheusrule.yaml",
    "charts/jude-operator/files/dashboards/jude.json",
  ])("%s queries only registered metrics", (file) => {
    const text = readFileSync(join(repoRoot, file), "utf8");
    const names = [
      ...new Set([...text.matchAll(/\b(jude_[a-z0-9_]*[a-z0-9])\b/g)].map((match) => match[1]!)),
    ];
    expect(names.length).toBeGreaterThan(3);
    expect(names.filter((name) => !registered.has(name))).toEqual([]);
  });
});

describe("metric help texts", () => {
  it("jude_store_writes_total names every outcome the writer counts", async () => {
    // Exhaustive over WriteOutcome: a new outcome fails the type check until it is listed here.
    const outcomes = {
      created: true,
      updated: true,
      deleted: true,
      tombstoned: true,
      advanced: true,
      stale: true,
    } satisfies Record<WriteOutcome, true>;
    const registry = new Registry();
    createStoreMetrics(registry);
    const metric = (await registry.getMetricsAsJSON()).find(({ name }) => name === "jude_store_writes_total");
    const missing = Object.keys(outcomes).filter((outcome) => !metric?.help.includes(outcome));
    expect(missing).toEqual([]);
  });
});

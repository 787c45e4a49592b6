// Names the documentation sends a reader to look up: condition and Event reasons, condition types and
// kinds (`StoreDataLost`, `ServingReady`), codes and environment variables (`NO_CURRENT_VERSION`,
// `JUDE_REDIS_SERVER_BIN`), command-line flags (`--watch-stale-seconds`) and chart values
// (`workloads.nodeSelector`). Each must be one the code (or the chart) has: a reason renamed in the
// code and not in the README sends a reader grepping `kubectl get events` for something that never comes.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { documentationFiles, readDocument, repoRoot } from "./markdown.ts";

/** Where the names live: product code, the chart, the scripts and the testbed (its variables). */
const sourceRoots = [
  "operator",
  "controllers",
  "crds",
  "serving",
  "pipelines",
  "store",
  "cli",
  "plumbing",
  "charts",
  "scripts",
  "bench",
  "test/testbed",
];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(repoRoot, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(repoRoot, path)).isDirectory()) return entry === "golden" ? [] : sourceFiles(path);
    return /\.(ts|js|json|ya?ml|lua|tpl|sh|css|html)$/.test(entry) && !/\.test\.ts$/.test(entry)
      ? [path]
      : [];
  });
}

const source = [...sourceRoots.flatMap(sourceFiles), "package.json", "Dockerfile", "Dockerfile.cuda"]
  .map((file) => readFileSync(join(repoRoot, file), "utf8"))
  .join("\n");

function inSource(name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(?<![A-Za-z0-9_-])${escaped}(?![A-Za-z0-9_])`).test(source);
}

/** Names of other software the documentation quotes: Kubernetes, Debezium, ONNX, V8, Helm. */
const outsideNames = new Set([
  // kubelet Event reasons (`kubectl describe pod`), controller-runtime
  "FailedMount",
  "FailedCreatePodSandBox",
  "SyncPeriod",
  // Debezium single message transforms, Kafka producer timestamps
  "ExtractNewRecordState",
  "ExtractNewDocumentState",
  "CreateTime",
  // ONNX operators
  "BiasGelu",
  "IsNaN",
  "MatMul",
  "MatMulInteger",
  "QuantizeLinear",
  "SkipLayerNormalization",
  // flags of kubectl, Helm, redis-cli, Kafka's tools and V8
  "--for",
  "--from-literal",
  "--replicas",
  "--kube-version",
  "--reset-then-reuse-values",
  "--untar",
  "--scan",
  "--pattern",
  "--delete",
  "--group",
  "--heap-growing-percent",
]);

/** Backticked names of `pattern` in every documentation file, with the files naming each. */
function namedInDocs(pattern: RegExp): Map<string, string[]> {
  const named = new Map<string, string[]>();
  for (const file of documentationFiles)
    for (const match of readDocument(file).matchAll(pattern)) {
      const files = named.get(match[1]!) ?? [];
      if (!files.includes(file)) files.push(file);
      named.set(match[1]!, files);
    }
  return named;
}

function unknown(named: Map<string, string[]>): string[] {
  return [...named]
    .filter(([name]) => !outsideNames.has(name) && !inSource(name))
    .map(([name, files]) => `${name} (${files.join(", ")})`)
    .sort();
}

describe("names in the documentation", () => {
  it("every reason, condition type and kind in backticks is one the code has", () => {
    const named = namedInDocs(/`([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)`/g);
    expect(named.has("StoreDataLost")).toBe(true);
    expect(unknown(named)).toEqual([]);
  });

  it("every code and environment variable in backticks is one the code has", () => {
    const named = namedInDocs(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g);
    expect(named.has("NO_CURRENT_VERSION")).toBe(true);
    // The operator reads each flag from JUDE_OPERATOR_<FLAG> too (operator/config.ts).
    const operatorFlag = (name: string) =>
      name.startsWith("JUDE_OPERATOR_") &&
      inSource(`--${name.slice("JUDE_OPERATOR_".length).toLowerCase().replace(/_/g, "-")}`);
    expect(unknown(named).filter((entry) => !operatorFlag(entry.split(" ")[0]!))).toEqual([]);
  });

  it("every Kafka header the pipelines write, in backticks, is one they write", () => {
    const named = namedInDocs(/`(jude\.[a-z]+(?:[.-][a-z]+)+)`/g);
    expect(named.has("jude.error.code")).toBe(true);
    const missing = [...named]
      .filter(([name]) => !source.includes(`"${name}"`))
      .map(([name, files]) => `${name} (${files.join(", ")})`);
    expect(missing).toEqual([]);
  });

  it("every command-line flag is one a command reads", () => {
    const named = new Map<string, string[]>();
    for (const file of documentationFiles)
      for (const match of readDocument(file).matchAll(/(?<![\w-])(--[a-z][a-z0-9-]+)/g))
        named.set(match[1]!, [...new Set([...(named.get(match[1]!) ?? []), file])]);
    expect(named.has("--watch-stale-seconds")).toBe(true);
    // Commands declare a flag by its name (`"intra-op-threads": {…}`) or derive it from a config field
    // (`watchStaleSeconds`, operator/config.ts).
    const declared = (flag: string) => {
      const name = flag.slice(2);
      const camel = name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
      return source.includes(`"${name}"`) || inSource(camel);
    };
    expect(unknown(named).filter((entry) => !declared(entry.split(" ")[0]!))).toEqual([]);
  });

  it("every chart value the READMEs name is in values.yaml", () => {
    const values = parse(readDocument("charts/jude-operator/values.yaml")) as Record<string, unknown>;
    const has = (path: string) =>
      path.split(".").reduce<unknown>((node, key) => {
        if (node === undefined || node === null || typeof node !== "object") return undefined;
        return (node as Record<string, unknown>)[key];
      }, values) !== undefined;
    const missing: string[] = [];
    for (const file of ["README.md", "charts/jude-operator/README.md", "charts/README.md"])
      for (const match of readDocument(file).matchAll(
        /(?:`|--set )([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)+)(?:=[^`\s]*)?(?:`|\s)/g,
      )) {
        const path = match[1]!;
        // Only paths under a top-level value: `spec.version`, `kubectl.kubernetes.io/…` are not values.
        if (path.split(".")[0]! in values && !has(path) && !path.endsWith(".*"))
          missing.push(`${path} (${file})`);
      }
    expect(missing.length === 0 || missing).toBe(true);
  });
});

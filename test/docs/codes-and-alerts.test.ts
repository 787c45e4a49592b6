// Lists the README repeats from the code: the dead-letter codes (a table with examples, and the
// troubleshooting list), the chart's alerts, and the phases of an embedding version (the CRD's own
// description). A code, alert or phase added or removed in one place and not the other leaves a
// reader looking up something that does not exist, or missing what they were sent.
import { status as grpcStatus } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { modelVersionStatus, versionPhase } from "../../crds/embedding-model-status.ts";
import { decode as decodeSpec } from "../../crds/nearline-pipeline.ts";
import { createDecoder, decodeFailureCodes } from "../../pipelines/shared/decode.ts";
import { WRITE_CONTENDED } from "../../pipelines/nearline/processor.ts";
import { EMBEDDING_FAILED, EMBEDDING_REFUSED } from "../../pipelines/shared/embedding.ts";
import { errorKinds, ServingError, type ServingErrorCode } from "../../serving/core/errors.ts";
import { toGrpcStatus, toHttpError } from "../../serving/transport/status-mapping.ts";
import { documentationFiles, readDocument, repoRoot } from "./markdown.ts";

const readme = readDocument("README.md");

/** Every code a nearline worker puts in jude.error.code (bootstrap logs the same ones, but the last). */
const deadLetterCodes = [
  ...decodeFailureCodes,
  "NO_FIELDS",
  "UNAVAILABLE_VALUE",
  EMBEDDING_REFUSED,
  EMBEDDING_FAILED,
  WRITE_CONTENDED,
];

/** The README's dead-letter table: code -> example cell. */
function deadLetterTable(): Map<string, string> {
  const start = readme.indexOf("- **Dead letters.**");
  const section = readme.slice(start, readme.indexOf("\n- **", start + 1));
  expect(start, "README.md: the Dead letters item").toBeGreaterThan(0);
  const rows = new Map<string, string>();
  for (const match of section.matchAll(/^\s*\| `([A-Z_]+)`\s*\| (.*?)\s*\|$/gm))
    rows.set(match[1]!, match[2]!);
  return rows;
}

describe("dead-letter codes in the README", () => {
  it("the table has one row per code the pipelines write, and no other", () => {
    expect([...deadLetterTable().keys()].sort()).toEqual([...deadLetterCodes].sort());
  });

  it("the troubleshooting list names every code, and no other", () => {
    const item = /^- \*\*Events in the dead-letter topic\*\*[^]*?\n(?=- \*\*)/m.exec(readme);
    expect(item, "README.md: troubleshooting item on dead letters").not.toBeNull();
    const listed = /`jude\.error\.code` \(([^)]*)\)/.exec(item![0])?.[1];
    expect(listed).toBeDefined();
    const named = [...listed!.matchAll(/`([A-Z_]+)`/g)].map((match) => match[1]!);
    expect(named.sort()).toEqual([...deadLetterCodes].sort());
  });

  it("each JSON example decodes to its row's code with the job pipeline's rules", () => {
    // "Codes (with the job pipeline above: keyPath: $.jobId, eventTimePath: $.updatedAt)", the CRD's
    // default decode.maxEventTimeAheadSeconds, and a record key and timestamp a producer would set.
    const rules = decodeSpec.parse({ keyPath: "$.jobId", eventTimePath: "$.updatedAt" });
    expect(rules.maxEventTimeAheadSeconds).toBe(3600);
    const decode = createDecoder(rules);
    const checked: string[] = [];
    for (const [code, example] of deadLetterTable()) {
      if (!(decodeFailureCodes as readonly string[]).includes(code)) continue;
      for (const [, json] of example.matchAll(/`(\{[^`]*\})`/g)) {
        const value = JSON.parse(json!.replace("<600 characters>", "x".repeat(600))) as unknown;
        const result = decode({
          key: new TextEncoder().encode("k-1"),
          value: new TextEncoder().encode(JSON.stringify(value)),
          timestamp: Date.now(),
          partition: 0,
          offset: 0n,
        });
        expect(result.ok ? "decoded" : result.failure.code, `${code}: ${json}`).toBe(code);
        checked.push(code);
      }
    }
    expect(new Set(checked).size).toBeGreaterThanOrEqual(4);
  });
});

describe("alerts in the documentation", () => {
  const rules = readFileSync(join(repoRoot, "charts/jude-operator/templates/prometheusrule.yaml"), "utf8");
  const alerts = [...rules.matchAll(/^\s*- alert: (\w+)$/gm)].map((match) => match[1]!);

  it("the README names every alert of the chart", () => {
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    expect(alerts.filter((alert) => !readme.includes(`\`${alert}\``))).toEqual([]);
  });

  it("every alert a document names is one the chart has", () => {
    const named = documentationFiles.flatMap((file) =>
      [...readDocument(file).matchAll(/\bJude[A-Z][A-Za-z]+\b/g)].map((match) => ({ file, alert: match[0] })),
    );
    expect(named.filter(({ alert }) => !alerts.includes(alert))).toEqual([]);
  });
});

describe("phases of an embedding version", () => {
  it("the CRD's description of status.versions[].phase names exactly the enum's phases", () => {
    const description = modelVersionStatus.shape.phase.description ?? "";
    const named = [...description.matchAll(/\b([A-Z][a-z]+(?:[A-Z][a-z]+)*)\b/g)]
      .map((match) => match[1]!)
      .filter((word) => !["CaughtUp", "CoverageMet", "ParityPassed"].includes(word));
    expect(new Set(named)).toEqual(new Set(versionPhase.options));
  });

  it("the chart's dashboard and the docs name no phase the CRD lacks", () => {
    const dashboard = readFileSync(join(repoRoot, "charts/jude-operator/files/dashboards/jude.json"), "utf8");
    for (const text of [dashboard, ...documentationFiles.map(readDocument)])
      for (const match of text.matchAll(/jude_promotion_phase\{[^}]*phase="(\w+)"/g))
        expect(versionPhase.options).toContain(match[1]);
    expect(parse(dashboard) as unknown).toBeTruthy();
  });
});

describe("serving error codes in serving/README.md", () => {
  /** The error table's rows: codes, gRPC status and HTTP status as the reader sees them. */
  const rows = [
    ...readDocument("serving/README.md").matchAll(
      /^\| ([A-Z][A-Z_, ]+[A-Z_])\b[^|]*\| (\w+)\s*\| (\d+)\s*\|/gm,
    ),
  ]
    .filter((match) => !match[1]!.startsWith("code"))
    .flatMap((match) =>
      match[1]!.split(",").map((code) => ({ code: code.trim(), grpc: match[2]!, http: Number(match[3]) })),
    );

  it("the table names every code of the catalogue once, and no other", () => {
    expect(rows.map((row) => row.code).sort()).toEqual(Object.keys(errorKinds).sort());
  });

  it.each(rows)("$code is answered with gRPC $grpc and HTTP $http", ({ code, grpc, http }) => {
    const error = new ServingError(code as ServingErrorCode, "x");
    expect(grpcStatus[toGrpcStatus(error).code]).toBe(grpc);
    expect(toHttpError(error).status).toBe(http);
  });
});

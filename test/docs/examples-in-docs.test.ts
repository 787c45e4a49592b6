// The objects and configs shown in the READMEs are what a new engineer copies: each must pass the same
// schema the API server (through the generated CRDs) or the process reading it applies. An elided
// checksum ("76edd1…") once made the README's EmbeddingModel fail `kubectl apply`.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { configFileName } from "../../controllers/nearline-pipeline/config-map.ts";
import { resolveLiveVersions } from "../../controllers/nearline-pipeline/live-versions.ts";
import { setPath, testModel, testPipeline } from "../../controllers/nearline-pipeline/test-objects.ts";
import { desiredWorkers } from "../../controllers/nearline-pipeline/worker-deployment.ts";
import { imagesFor } from "../../controllers/shared/image.ts";
import { safeParseJudeObject } from "../../crds/index.ts";
import { bootstrapConfigSchema } from "../../pipelines/bootstrap/config.ts";
import { nearlineConfigSchema } from "../../pipelines/nearline/config.ts";
import { serveFlagPaths } from "../../serving/cli-options.ts";
import { servingConfigSchema } from "../../serving/config.ts";
import { examplesDir, exampleFiles } from "../fixtures/examples.ts";
import { codeBlocks, documentationFiles, paragraphs, readDocument, type CodeBlock } from "./markdown.ts";

const yamlBlocks = documentationFiles.flatMap((file) =>
  codeBlocks(file).filter((block) => block.language === "yaml"),
);

/** The one YAML block under `heading` in `file`. */
function blockUnder(file: string, heading: string): CodeBlock {
  const found = yamlBlocks.filter((block) => block.file === file && block.heading === heading);
  expect(found, `${file} has one yaml block under "${heading}"`).toHaveLength(1);
  return found[0]!;
}

describe("JUDE objects shown in the documentation", () => {
  const objects = yamlBlocks.flatMap((block) =>
    parseAllDocuments(block.text)
      .map((document) => document.toJSON() as { apiVersion?: unknown; kind?: string } | null)
      .filter((object) => typeof object?.apiVersion === "string" && object.apiVersion.startsWith("jude.dev/"))
      .map((object) => ({ where: `${block.file} (${block.heading}) ${object!.kind}`, object })),
  );

  it("are found", () => {
    expect(objects.length).toBeGreaterThan(0);
  });

  it.each(objects)("$where is valid", ({ object }) => {
    const result = safeParseJudeObject(object);
    expect(result?.success, result?.success === false ? result.error.message : "no parser for its kind").toBe(
      true,
    );
  });
});

describe("configs shown in the documentation", () => {
  const configs = [
    { file: "README.md", heading: "Nearline worker", schema: nearlineConfigSchema },
    {
      file: "serving/README.md",
      heading: "The model directory and the serving config",
      schema: servingConfigSchema,
    },
    { file: "pipelines/bootstrap/README.md", heading: "Config", schema: bootstrapConfigSchema },
  ] as const;

  it.each(configs)("$file, $heading, passes its schema", ({ file, heading, schema }) => {
    const result = schema.safeParse(parse(blockUnder(file, heading).text));
    expect(result.success, result.success ? "" : result.error.message).toBe(true);
  });
});

describe("the README's worker config", () => {
  it("says which of its keys the operator never renders (a NearlinePipeline cannot set them)", () => {
    // The README once gave `source.kafka.sessionTimeoutMs` as the knob of a worker's session timeout:
    // the operator renders no such key, so every worker it runs has the 20 s default.
    const leaves = (value: unknown, path: string): string[] =>
      typeof value === "object" && value !== null && !Array.isArray(value)
        ? Object.entries(value).flatMap(([key, child]) => leaves(child, path === "" ? key : `${path}.${key}`))
        : [path];
    const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");
    const model = testModel();
    const [version] = resolveLiveVersions(model).versions;
    // The examples, and a pipeline setting the optional fields they leave out that render a key only
    // when set (spec.sinks.store.cluster).
    const pipelines = [
      testPipeline("nearline-pipeline-jobs.yaml"),
      testPipeline("nearline-pipeline-member-profiles.yaml"),
      testPipeline("nearline-pipeline-jobs.yaml", (object) =>
        setPath(object, "spec.sinks.store.cluster", true),
      ),
    ];
    const rendered = new Set(
      pipelines.flatMap((pipeline) =>
        leaves(parse(desiredWorkers(pipeline, model, version!, images).configMap.data![configFileName]!), ""),
      ),
    );
    const shown = leaves(parse(blockUnder("README.md", "Nearline worker").text), "");
    const neverRendered = shown.filter((key) => !rendered.has(key));
    expect(neverRendered).toContain("source.kafka.sessionTimeoutMs");
    const said = paragraphs("README.md").filter((paragraph) =>
      paragraph.includes("the operator never renders"),
    );
    expect(said, "one README paragraph says which keys the operator never renders").toHaveLength(1);
    expect(neverRendered.filter((key) => !said[0]!.includes(`\`${key}\``))).toEqual([]);
  });
});

describe("the examples directory", () => {
  const files = readdirSync(examplesDir).filter((file) => file.endsWith(".yaml"));

  it("every example is listed in the README and applied by the integration suite", () => {
    const readme = readDocument("README.md");
    expect(files.length).toBeGreaterThanOrEqual(5);
    expect(files.filter((file) => !readme.includes(`\`examples/${file}\``))).toEqual([]);
    expect([...files].sort()).toEqual([...exampleFiles].sort());
  });

  it.each(files)("examples/%s is valid", (file) => {
    const result = safeParseJudeObject(parse(readFileSync(join(examplesDir, file), "utf8")));
    expect(result?.success, result?.success === false ? result.error.message : "no parser for its kind").toBe(
      true,
    );
  });
});

describe("jude serve's flags", () => {
  it("set every field of the serving config but model.dimensions and prompts, as serving/README.md says", () => {
    const block = blockUnder("serving/README.md", "The model directory and the serving config");
    const leaves = (value: unknown, path: string): string[] =>
      typeof value === "object" && value !== null && !Array.isArray(value)
        ? Object.entries(value).flatMap(([key, child]) => leaves(child, path === "" ? key : `${path}.${key}`))
        : [path];
    const fields = leaves(parse(block.text), "").filter(
      (field) => !field.startsWith("prompts.") && field !== "model.dimensions",
    );
    expect(fields.length).toBeGreaterThan(20);
    expect(readDocument("serving/README.md")).toContain(
      "every field has a flag and a `JUDE_SERVING_*` variable",
    );
    expect(fields.filter((field) => !serveFlagPaths().includes(field))).toEqual([]);
  });
});

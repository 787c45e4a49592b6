// The label selectors of the Deployments the operator renders are pinned here, apart from the golden
// files: `spec.selector` of an existing Deployment is immutable (the API server answers 422 "field is
// immutable"), so a release that renders another selector fails every apply of every Deployment made
// by an earlier release, and each model and pipeline stays Stalled (ReconcileError) after `helm
// upgrade` until its Deployments are deleted by hand. Golden files are regenerated for every intended
// change; this test makes a selector change a decision (it needs a migration that replaces the
// Deployments), not a side effect.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { childLabels } from "./labels.ts";

const controllers = join(import.meta.dirname, "..");

/** Every Deployment in the golden files of the controllers. */
function goldenDeployments(): {
  file: string;
  spec: { selector: { matchLabels: Record<string, string> } };
}[] {
  const found = [];
  for (const controller of readdirSync(controllers)) {
    const golden = join(controllers, controller, "golden");
    let files: string[];
    try {
      files = readdirSync(golden);
    } catch {
      continue;
    }
    for (const name of files.filter((file) => file.endsWith(".yaml"))) {
      const file = join(controller, "golden", name);
      for (const document of parseAllDocuments(readFileSync(join(golden, name), "utf8"))) {
        const object = document.toJS() as { kind?: string; spec: never } | null;
        if (object?.kind === "Deployment") found.push({ file, spec: object.spec });
      }
    }
  }
  return found;
}

describe("workload selectors (immutable on existing Deployments)", () => {
  it("keeps the selector keys of serving and nearline Deployments", () => {
    expect(childLabels("serving", { model: "m", embeddingVersion: "v1" }).selector).toEqual({
      "app.kubernetes.io/name": "jude",
      "app.kubernetes.io/component": "serving",
      "jude.dev/model": "m",
      "jude.dev/version": "v1",
    });
    expect(childLabels("nearline", { model: "m", pipeline: "p", embeddingVersion: "v1" }).selector).toEqual({
      "app.kubernetes.io/name": "jude",
      "app.kubernetes.io/component": "nearline",
      "jude.dev/model": "m",
      "jude.dev/pipeline": "p",
      "jude.dev/version": "v1",
    });
  });

  it("renders exactly those selectors into every Deployment of the golden files", () => {
    const pinned: Record<string, string[]> = {
      serving: [
        "app.kubernetes.io/component",
        "app.kubernetes.io/name",
        "jude.dev/model",
        "jude.dev/version",
      ],
      nearline: [
        "app.kubernetes.io/component",
        "app.kubernetes.io/name",
        "jude.dev/model",
        "jude.dev/pipeline",
        "jude.dev/version",
      ],
    };
    const deployments = goldenDeployments();
    expect(deployments.length).toBeGreaterThan(2);
    for (const { file, spec } of deployments) {
      const selector = spec.selector.matchLabels;
      const component = selector["app.kubernetes.io/component"] ?? "";
      expect(Object.keys(selector).sort(), file).toEqual(pinned[component]);
    }
  });
});

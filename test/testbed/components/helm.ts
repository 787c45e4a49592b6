import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Component } from "../component.ts";
import { buildScripts, cacheDir, versions } from "../paths.ts";
import { goBuildSteps, TestbedStepError } from "../step.ts";

function helmBinary(): string {
  return process.env.JUDE_HELM_BIN ?? join(cacheDir(), `helm-${versions.helm}`, "bin", "helm");
}

/** Helm v3, built from the Go module proxy; a tool, so "starting" it only exports its path. */
export const helm: Component = {
  name: "helm",
  requires: [],
  overrides: { JUDE_HELM_BIN: "a prebuilt helm v3 binary" },

  provisionSteps() {
    if (process.env.JUDE_HELM_BIN !== undefined) {
      if (!existsSync(helmBinary()))
        throw new TestbedStepError("helm override", `JUDE_HELM_BIN ${helmBinary()} does not exist`);
      return [];
    }
    return goBuildSteps({
      entry: `helm-${versions.helm}`,
      isComplete: () => existsSync(helmBinary()),
      script: join(buildScripts, "go-tool.sh"),
      args: [`helm.sh/helm/v3@v${versions.helm}`, "helm.sh/helm/v3/cmd/helm", helmBinary()],
    });
  },

  async start() {
    return {
      pids: [],
      external: process.env.JUDE_HELM_BIN !== undefined,
      env: { JUDE_HELM: helmBinary() },
      details: {},
    };
  },

  async isReady() {
    return existsSync(helmBinary());
  },

  async stop() {},
};

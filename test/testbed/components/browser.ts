// A headless browser for the dashboard's browser test: Debian's `chromium`, driven by playwright-core
// through `executablePath`. Installed like the testbed's other Debian tools (redis-server, lua5.1);
// the downloaded .deb files are kept in the testbed cache, so a fresh machine reinstalls offline-fast.
import { existsSync } from "node:fs";
import type { Component } from "../component.ts";
import { installDebianPackages } from "../debian-packages.ts";
import type { ProvisionStep } from "../schedule.ts";
import { TestbedStepError } from "../step.ts";

const chromiumPath = "/usr/bin/chromium";

function chromiumBinary(): string {
  return process.env.JUDE_CHROMIUM_BIN ?? chromiumPath;
}

function installChromium(): ProvisionStep[] {
  if (existsSync(chromiumBinary())) return [];
  if (process.env.JUDE_CHROMIUM_BIN !== undefined)
    throw new TestbedStepError("chromium override", `JUDE_CHROMIUM_BIN ${chromiumBinary()} does not exist`);
  return [
    {
      name: "install chromium",
      lane: "apt",
      run: () =>
        installDebianPackages({
          step: "chromium",
          packages: ["chromium"],
          alternative: "set JUDE_CHROMIUM_BIN",
        }),
    },
  ];
}

/** Chromium; a tool, so "starting" it only exports its path. */
export const browser: Component = {
  name: "browser",
  requires: [],
  overrides: { JUDE_CHROMIUM_BIN: "a Chromium (or Chrome) binary for the dashboard's browser test" },

  provisionSteps() {
    return installChromium();
  },

  async start() {
    return { pids: [], external: false, env: { JUDE_CHROMIUM: chromiumBinary() }, details: {} };
  },

  async isReady() {
    return existsSync(chromiumBinary());
  },

  async stop() {},
};

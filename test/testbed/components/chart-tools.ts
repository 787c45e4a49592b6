// The tools that check what the Helm chart and the kubectl plugin ship besides Kubernetes objects:
// promtool (the alert rules: `promtool check rules`, `promtool test rules`), taken out of Debian's
// `prometheus` package (2.42; building a current one from the Go module proxy took 7 minutes of a cold
// run); a Lua 5.1 interpreter (Argo CD's health checks are Lua 5.1 scripts) and zsh (the plugin's zsh
// completion runs in it) from Debian.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Component } from "../component.ts";
import { extractDebianFile, installDebianPackages } from "../debian-packages.ts";
import type { ProvisionStep } from "../schedule.ts";
import { cacheDir, versions } from "../paths.ts";
import { ensureCached, TestbedStepError } from "../step.ts";

const luaPath = "/usr/bin/lua5.1";
const zshPath = "/usr/bin/zsh";

function promtoolBinary(): string {
  return (
    process.env.JUDE_PROMTOOL_BIN ?? join(cacheDir(), `promtool-${versions.prometheus}`, "bin", "promtool")
  );
}

function luaBinary(): string {
  return process.env.JUDE_LUA_BIN ?? luaPath;
}

function zshBinary(): string {
  return process.env.JUDE_ZSH_BIN ?? zshPath;
}

/** Installs a Debian package unless its binary (or the override naming one) is there. */
function installFromDebian(step: string, pkg: string, binary: string, override: string): ProvisionStep[] {
  if (existsSync(binary)) return [];
  if (process.env[override] !== undefined)
    throw new TestbedStepError(`${step} override`, `${override} ${binary} does not exist`);
  return [
    {
      name: `install ${step}`,
      lane: "apt",
      run: () => installDebianPackages({ step, packages: [pkg], alternative: `set ${override}` }),
    },
  ];
}

/** promtool and lua5.1; tools, so "starting" them only exports their paths. */
export const chartTools: Component = {
  name: "chart-tools",
  requires: [],
  overrides: {
    JUDE_PROMTOOL_BIN: "a prebuilt promtool binary",
    JUDE_LUA_BIN: "a Lua 5.1 interpreter",
    JUDE_ZSH_BIN: "a zsh",
  },

  provisionSteps() {
    const steps = [
      ...installFromDebian("lua", "lua5.1", luaBinary(), "JUDE_LUA_BIN"),
      ...installFromDebian("zsh", "zsh", zshBinary(), "JUDE_ZSH_BIN"),
    ];
    if (process.env.JUDE_PROMTOOL_BIN !== undefined) {
      if (!existsSync(promtoolBinary()))
        throw new TestbedStepError(
          "promtool override",
          `JUDE_PROMTOOL_BIN ${promtoolBinary()} does not exist`,
        );
      return steps;
    }
    const entry = `promtool-${versions.prometheus}`;
    const isComplete = (): boolean => existsSync(promtoolBinary());
    if (isComplete()) return steps;
    // apt lane: it may run `apt-get update` and downloads through apt.
    steps.push({
      name: `fetch ${entry}`,
      lane: "apt",
      run: () =>
        ensureCached(entry, isComplete, () =>
          extractDebianFile({
            step: "promtool",
            package: "prometheus",
            version: versions.prometheus,
            file: "usr/bin/promtool",
            dest: promtoolBinary(),
            alternative: "set JUDE_PROMTOOL_BIN to a promtool 2.42 or later",
          }),
        ),
    });
    return steps;
  },

  async start() {
    return {
      pids: [],
      external: process.env.JUDE_PROMTOOL_BIN !== undefined,
      env: { JUDE_PROMTOOL: promtoolBinary(), JUDE_LUA: luaBinary(), JUDE_ZSH: zshBinary() },
      details: {},
    };
  },

  async isReady() {
    return existsSync(promtoolBinary()) && existsSync(luaBinary()) && existsSync(zshBinary());
  },

  async stop() {},
};

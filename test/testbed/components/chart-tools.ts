// The tools that check what the Helm chart ships besides Kubernetes objects: promtool (the alert
// rules: `promtool check rules`, `promtool test rules`), built from the Go module proxy like the other
// Go tools, and a Lua 5.1 interpreter (Argo CD's health checks are Lua 5.1 scripts) from Debian.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Component } from "../component.ts";
import { installDebianPackages } from "../debian-packages.ts";
import { buildScripts, cacheDir, versions } from "../paths.ts";
import { buildLog, ensureCached, runStep, TestbedStepError } from "../step.ts";

const luaPath = "/usr/bin/lua5.1";

function promtoolBinary(): string {
  return (
    process.env.JUDE_PROMTOOL_BIN ?? join(cacheDir(), `promtool-${versions.prometheus}`, "bin", "promtool")
  );
}

function luaBinary(): string {
  return process.env.JUDE_LUA_BIN ?? luaPath;
}

async function installLua(): Promise<void> {
  if (existsSync(luaBinary())) return;
  if (process.env.JUDE_LUA_BIN !== undefined)
    throw new TestbedStepError("lua override", `JUDE_LUA_BIN ${luaBinary()} does not exist`);
  await installDebianPackages({ step: "lua", packages: ["lua5.1"], alternative: "set JUDE_LUA_BIN" });
}

/** promtool and lua5.1; tools, so "starting" them only exports their paths. */
export const chartTools: Component = {
  name: "chart-tools",
  requires: [],
  overrides: {
    JUDE_PROMTOOL_BIN: "a prebuilt promtool binary",
    JUDE_LUA_BIN: "a Lua 5.1 interpreter",
  },

  async provision() {
    await installLua();
    if (process.env.JUDE_PROMTOOL_BIN !== undefined) {
      if (!existsSync(promtoolBinary()))
        throw new TestbedStepError(
          "promtool override",
          `JUDE_PROMTOOL_BIN ${promtoolBinary()} does not exist`,
        );
      return;
    }
    await ensureCached(
      `promtool-${versions.prometheus}`,
      () => existsSync(promtoolBinary()),
      () =>
        runStep(
          "build promtool",
          "bash",
          [
            join(buildScripts, "go-tool.sh"),
            `github.com/prometheus/prometheus@v${versions.prometheus}`,
            "github.com/prometheus/prometheus/cmd/promtool",
            promtoolBinary(),
          ],
          { logFile: buildLog(`promtool-${versions.prometheus}`) },
        ),
    );
  },

  async start() {
    return {
      pids: [],
      external: process.env.JUDE_PROMTOOL_BIN !== undefined,
      env: { JUDE_PROMTOOL: promtoolBinary(), JUDE_LUA: luaBinary() },
      details: {},
    };
  },

  async isReady() {
    return existsSync(promtoolBinary()) && existsSync(luaBinary());
  },

  async stop() {},
};

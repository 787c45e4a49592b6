/**
 * `jude serve` calls nobody outside the cluster and writes nothing outside its volumes: ONNX Runtime's
 * telemetry uploader (on by default on Linux since 1.29) stays off, so the process leaves no
 * /tmp/mat-debug-<pid>.log and no ~/.cache/Microsoft/…/onnxruntime.db behind. The child runs without
 * the CI variables that would switch the uploader off by themselves, so this fails where it matters.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { spawnServe } from "./helpers.ts";

const home = mkdtempSync(join(tmpdir(), "jude-serve-home-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** ONNX Runtime's own CI detection (telemetry_environment.h) and its switch, none of them set. */
const ortSwitches = ["ORT_DISABLE_TELEMETRY", "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL"];

it("starts no ONNX Runtime telemetry: no debug log in /tmp, no cache under HOME", async () => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !ortSwitches.includes(name)),
  ) as NodeJS.ProcessEnv;
  const serve = await spawnServe([], { ...env, HOME: home, XDG_CACHE_HOME: join(home, ".cache") });
  try {
    await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
    expect(existsSync(`/tmp/mat-debug-${serve.child.pid}.log`)).toBe(false);
    expect(readdirSync(home)).toEqual([]);
  } finally {
    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    rmSync(`/tmp/mat-debug-${serve.child.pid}.log`, { force: true });
  }
}, 120_000);

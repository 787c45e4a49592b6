/**
 * The dashboard's pipeline throughput against the testbed's API server. The operator writes a
 * NearlinePipeline's status only when it changed (every 30 s at most), so a pipeline that goes idle
 * sends nothing more: the page must still see its rate fall to zero, not keep the last busy figure.
 * The hub's clock is a test clock; the API server, the watches and the status writes are real.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobsPipeline, promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import type { DashboardState } from "../../../cli/kubectl-jude/dashboard/view-model.ts";
import { WatchHub } from "../../../cli/kubectl-jude/dashboard/watch-hub.ts";
import { createRootLogger } from "../../../plumbing/logger.ts";
import { waitFor } from "../../testbed/wait.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";

const namespace = `dashboard-rate-${process.pid}`;
let clock = Date.now();
let hub: WatchHub;
let latest: DashboardState | undefined;

const pipelineStatus = (processed: number) => ({
  conditions: jobsPipeline().status!.conditions,
  versions: [{ version: "minilm-v1", lag: 0, processed, embedded: processed }],
});

/** The jobs pipeline's throughput on the page the hub pushed last. */
const shownThroughput = (): number | undefined =>
  latest?.models[0]?.pipelines.find((pipeline) => pipeline.name === "jobs")?.versions[0]?.throughput;

beforeAll(async () => {
  await installCrds("dashboard-throughput-test");
  await kubectl(["create", "namespace", namespace]);
  const model = promotingModel();
  await applyWithStatus(model, namespace, model.status);
  await applyWithStatus(jobsPipeline(), namespace, pipelineStatus(0));
  const config = new KubeConfig();
  config.loadFromFile(requireEnv("KUBECONFIG"));
  hub = new WatchHub({
    config,
    namespace,
    log: createRootLogger({ component: "dashboard-throughput-test", level: "warn" }),
    coalesceMs: 10,
    rateCheckMs: 50,
    now: () => clock,
  });
  await hub.start();
  hub.subscribe((state) => (latest = state));
});

afterAll(async () => {
  await hub?.stop();
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

describe("dashboard throughput", () => {
  it("follows the processed counter the operator writes", async () => {
    clock += 30_000;
    await kubectl([
      "patch",
      "-n",
      namespace,
      "nearlinepipeline/jobs",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: pipelineStatus(300) }),
    ]);
    await waitFor("the page to show 300 events in 30 s", () => shownThroughput() === 10, {
      timeoutMs: 30_000,
    });
  });

  it("falls to zero when the pipeline goes quiet and its status stops changing", async () => {
    clock += 120_000; // two minutes without a status update, and nothing written to the API
    await waitFor("the page to show the idle pipeline at 0 events/s", () => shownThroughput() === 0, {
      timeoutMs: 10_000,
    });
    expect(hub.state().models[0]!.pipelines[0]!.versions[0]!.processed).toBe(300);
  });
});

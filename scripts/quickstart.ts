#!/usr/bin/env node
/**
 * `npm run quickstart`: the whole JUDE story on one machine — the testbed's real components, the
 * operator installed with its Helm chart on the local nodes, the example objects, a generated changelog
 * replayed live, the gated promotion of an int8 model, a measured summary and the dashboard.
 * `npm run quickstart -- down` (or Ctrl-C) stops everything it started. Exit codes: 0 done, 1 failed,
 * 2 usage error.
 */
import { writeFileSync } from "node:fs";
import { Cluster } from "../cli/kubectl-jude/cluster.ts";
import { startDashboard, type RunningDashboard } from "../cli/kubectl-jude/dashboard/command.ts";
import { quickstartSummaryFile } from "./quickstart/files.ts";
import { createNarrator } from "./quickstart/narrator.ts";
import { parseQuickstartArgs, quickstartUsage, type QuickstartOptions } from "./quickstart/options.ts";
import { bringUpPlatform, installOperator, tearDown } from "./quickstart/platform.ts";
import { checkDashboardPort, claimQuickstart, QuickstartRefusal } from "./quickstart/preflight.ts";
import { discardSummary, readQuickstartState } from "./quickstart/state.ts";
import { runStory } from "./quickstart/story.ts";
import { closingText, renderSummary } from "./quickstart/summary.ts";
import { generateChangelog } from "./quickstart/changelog.ts";

/** Set by Ctrl-C: the run is being torn down on purpose, so what fails meanwhile is not news. */
let interrupted = false;

async function up(options: QuickstartOptions): Promise<void> {
  // Before anything is made: a second run, or a taken port, would otherwise fail only after minutes.
  claimQuickstart("up");
  await checkDashboardPort(options.dashboardPort);
  // A previous run's figures are not this run's: until this one writes its own, there are none.
  discardSummary();
  const narrator = createNarrator({ interactive: options.interactive });
  const started = Date.now();
  // Set once the dashboard runs; the interrupt handler stops it if it exists by then.
  const running: { dashboard?: RunningDashboard } = {};
  const interrupt = async (): Promise<void> => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.write("\nstopping everything the quickstart started…\n");
    await running.dashboard?.stop().catch(() => undefined);
    try {
      await tearDown(narrator);
    } catch (error) {
      process.stderr.write(
        `quickstart: stopping failed: ${error instanceof Error ? error.message : String(error)}\n` +
          "`npm run quickstart -- down` tries again.\n",
      );
      process.exit(1);
    }
    process.exit(130);
  };
  process.once("SIGINT", () => void interrupt());

  narrator.act("The platform: testbed components and the operator (Helm)");
  const platform = await bringUpPlatform(narrator, options.namespace);
  await installOperator(platform, narrator, options.namespace);
  const dashboard = await startDashboard({
    cluster: new Cluster({ kubeconfig: platform.env.KUBECONFIG! }),
    namespace: options.namespace,
    port: options.dashboardPort,
  });
  running.dashboard = dashboard;
  narrator.done(`dashboard: ${dashboard.url}`);

  const result = await runStory(platform, narrator, options.namespace, dashboard.url);
  const titles = new Map(
    [...generateChangelog().final.job.entries()].map(([id, job]) => [id, "title" in job ? job.title : ""]),
  );
  process.stdout.write(`\n${renderSummary(result.summary, titles)}`);
  const elapsedSeconds = (Date.now() - started) / 1000;
  writeFileSync(quickstartSummaryFile(), JSON.stringify({ ...result, elapsedSeconds }, null, 2));
  process.stdout.write(
    closingText({
      elapsedSeconds,
      url: dashboard.url,
      namespace: options.namespace,
      kubeconfig: platform.env.KUBECONFIG!,
      interactive: options.interactive,
    }),
  );
  if (options.interactive) await new Promise(() => undefined);
  await dashboard.stop();
}

async function main(): Promise<number> {
  let options: QuickstartOptions;
  try {
    options = parseQuickstartArgs(process.argv.slice(2), process.stdin.isTTY === true);
  } catch (error) {
    process.stderr.write(`quickstart: ${(error as Error).message}\n`);
    return 2;
  }
  if (options.command === "help") {
    process.stdout.write(quickstartUsage);
    return 0;
  }
  if (options.kind) {
    process.stderr.write(
      "quickstart: --kind is not implemented yet (it would need Docker and kind); run without it on the testbed\n",
    );
    return 2;
  }
  if (options.command === "down") {
    claimQuickstart("down");
    await tearDown(createNarrator({ interactive: false }));
  } else await up(options);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  // After Ctrl-C the story fails as its components go away; the interrupt handler finishes the
  // teardown and exits, so neither a failure message nor the exit timer below may cut in.
  if (interrupted) await new Promise(() => undefined);
  process.stderr.write(`\nquickstart failed: ${error instanceof Error ? error.message : String(error)}\n`);
  // What was made before the failure stays up (to look at); say how to remove it.
  if (error instanceof QuickstartRefusal) {
    // Refused before anything was made: nothing to remove.
  } else if (readQuickstartState() !== undefined)
    process.stderr.write(
      "What the quickstart made so far stays up; `npm run quickstart -- down` removes it, and a re-run reuses it.\n",
    );
  else process.stderr.write(`${quickstartUsage.split("\n")[0]}\n`);
  process.exitCode = 1;
}
// Open handles (Kafka, Redis, watches) must not keep a finished run alive.
if (process.exitCode !== undefined) setTimeout(() => process.exit(), 100).unref();

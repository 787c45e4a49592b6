/**
 * `kubectl jude dashboard` in a real browser (Debian's headless Chromium driven by playwright-core)
 * against the testbed's API server: the plugin runs as a user runs it, with a kubeconfig; the objects
 * of a promotion in progress are written with their status through /status as the operator writes
 * them. The page must show what the API holds, follow a phase change pushed by the watch (no polling,
 * no reload), and approve a manual cutover only after confirmation. A screenshot is kept in
 * test-artifacts/ and the page must log no console errors.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapOfV2, jobsPipeline, promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { desiredVersionRecord } from "../../../controllers/embedding-model/version-record.ts";
import { repoRoot } from "../../testbed/paths.ts";
import { createBootstrapStartedEvent, startDashboard } from "./dashboard-process.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";

const execFileAsync = promisify(execFile);
const namespace = `dashboard-${process.pid}`;
const artifacts = join(repoRoot, "test-artifacts", "dashboard");
let plugin: ChildProcess;
let browser: Browser;
let page: Page;
let url: string;
const consoleErrors: string[] = [];
const requestsAfterLoad: string[] = [];
let loaded = false;

/** Starts `kubectl jude dashboard` on a free port and resolves the URL it prints. */
async function startPlugin(): Promise<string> {
  const started = await startDashboard(namespace, requireEnv("KUBECONFIG"));
  plugin = started.plugin;
  return started.url;
}

const modelStatus = () => promotingModel().status!;

/** The EmbeddingModel as the API server holds it now. */
const heldModel = <T>() => kubectlJson<T>(["get", "-n", namespace, "embeddingmodel/minilm"]);

beforeAll(async () => {
  await installCrds("dashboard-test");
  await kubectl(["create", "namespace", namespace]);
  for (const object of [promotingModel(), jobsPipeline(), bootstrapOfV2()])
    await applyWithStatus(object, namespace, object.status);
  // An Event on the model, as the operator's event recorder writes them, for the timeline.
  await createBootstrapStartedEvent(namespace);
  url = await startPlugin();
  browser = await chromium.launch({ executablePath: requireEnv("JUDE_CHROMIUM"), args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(error.message));
  page.on("request", (request) => {
    if (loaded) requestsAfterLoad.push(`${request.method()} ${new URL(request.url()).pathname}`);
  });
  await page.goto(url);
  await page.locator("#connection[data-state=live]").waitFor();
  loaded = true;
});

afterAll(async () => {
  if (page !== undefined) {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "promotion.png"), fullPage: true });
  }
  await browser?.close();
  plugin?.kill("SIGTERM");
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

describe("kubectl jude dashboard in a browser", () => {
  it("shows the versions, phases and gate values the API holds", async () => {
    const card = page.locator(`[data-model="${namespace}/minilm"]`);
    await expect(card.locator("[data-field=desired]").textContent()).resolves.toBe("minilm-v2");
    await expect(card.locator("[data-field=active]").textContent()).resolves.toBe("minilm-v1");
    const held = await heldModel<{ status: { versions: Array<{ version: string; phase: string }> } }>();
    const shown = await card
      .locator("tr[data-version][data-phase]")
      .evaluateAll((rows) => rows.map((row) => `${row.dataset.version}:${row.dataset.phase}`));
    expect(shown).toEqual(held.status.versions.map((version) => `${version.version}:${version.phase}`));
    for (const condition of modelStatus().conditions!.filter((each) => each.type !== "Ready")) {
      const gate = card.locator(`[data-gate="${condition.type}"]`);
      await expect(gate.getAttribute("data-status")).resolves.toBe(condition.status);
      await expect(gate.locator(".value").textContent()).resolves.toBe(condition.message);
    }
    await expect(card.locator('[data-gate="ParityPassed"]').getAttribute("data-status")).resolves.toBe(
      "Unknown",
    );
    await expect(card.locator('tr[data-bootstrap="jobs-minilm-v2"]').textContent()).resolves.toContain(
      "5,040 / 12,000",
    );
    await expect(
      card.locator('tr[data-pipeline="jobs"][data-version="minilm-v1"]').textContent(),
    ).resolves.toMatch(/9,000.*3,000.*2/);
    await expect(card.locator(".timeline").textContent()).resolves.toContain(
      "EmbeddingModel/minilm: created BootstrapRun jobs-minilm-v2",
    );
  });

  it("follows a phase change pushed through the watch, without polling or reloading", async () => {
    const status = modelStatus();
    status.versions = status.versions!.map((version) =>
      version.version === "minilm-v2" ? { ...version, phase: "AwaitingCutover", coverage: 0.995 } : version,
    );
    status.conditions = [
      ...status.conditions!.map((condition) =>
        condition.type === "CoverageMet"
          ? { ...condition, status: "True" as const, reason: "Passed", message: "coverage 0.995 >= 0.99" }
          : condition,
      ),
      // As the operator writes it: the Ready verdict's reason and message on the False Stalled too.
      {
        type: "Stalled",
        status: "False" as const,
        reason: "AwaitingCutover",
        message: "version minilm-v2 awaits approval",
        lastTransitionTime: "2026-12-01T10:02:00Z",
      },
    ];
    await kubectl([
      "patch",
      "-n",
      namespace,
      "embeddingmodel/minilm",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status }),
    ]);
    const card = page.locator(`[data-model="${namespace}/minilm"]`);
    await card
      .locator('tr[data-version="minilm-v2"][data-phase="AwaitingCutover"]')
      .waitFor({ timeout: 30_000 });
    await expect(card.locator('[data-gate="CoverageMet"] .value').textContent()).resolves.toBe(
      "coverage 0.995 >= 0.99",
    );
    // Not "✓ Stalled" with the Ready message beside it, which read as a stall confirmed.
    const stalled = card.locator('[data-gate="Stalled"]');
    await expect(stalled.getAttribute("data-status")).resolves.toBe("False");
    await expect(stalled.textContent()).resolves.toBe("✓not Stalled");
    expect(requestsAfterLoad).toEqual([]);
  });

  it("says so when an action gets no answer or no JSON, and changes nothing", async () => {
    const button = page.locator(`[data-model="${namespace}/minilm"] [data-action=approve]`);
    const actionUrl = `${url}api/models/${namespace}/minilm/approve`;
    const errorsBefore = consoleErrors.length;
    const errorToast = (text: string) =>
      page.locator("#toast:not([hidden])[data-kind=error]", { hasText: text });
    // The plugin stopped: the request fails in the browser.
    await page.route(actionUrl, (route) => route.abort("connectionrefused"));
    await button.click();
    await page.click("#confirm-ok");
    await errorToast("did not answer").waitFor();
    // A proxy in between answers with its own page.
    await page.unroute(actionUrl);
    await page.route(actionUrl, (route) =>
      route.fulfill({ status: 502, contentType: "text/html", body: "<h1>Bad Gateway</h1>" }),
    );
    await button.click();
    await page.click("#confirm-ok");
    await errorToast("refused: HTTP 502").waitFor();
    await page.unroute(actionUrl);
    // Out of the way of the next test's toast.
    await page.locator("#toast").evaluate((toast: { hidden: boolean }) => (toast.hidden = true));
    const model = await heldModel<{ spec: { promotion: { approvedVersion?: string } } }>();
    expect(model.spec.promotion.approvedVersion).toBeUndefined();
    // The browser reports each failed load itself; the page's own code threw nothing.
    const caused = consoleErrors.splice(errorsBefore);
    expect(caused).toEqual([
      expect.stringContaining("net::ERR_CONNECTION_REFUSED"),
      expect.stringContaining("status of 502"),
    ]);
  });

  it("approves the manual cutover only after confirmation", async () => {
    const approvedVersion = async () =>
      (await heldModel<{ spec: { promotion: { approvedVersion?: string } } }>()).spec.promotion
        .approvedVersion;
    const button = page.locator(`[data-model="${namespace}/minilm"] [data-action=approve]`);
    await expect(button.textContent()).resolves.toBe("Approve minilm-v2");
    await button.click();
    await expect(page.locator("#confirm-text").textContent()).resolves.toBe(
      "approved cutover of minilm to minilm-v2.",
    );
    await page.click("#confirm-cancel");
    expect(await approvedVersion()).toBeUndefined();

    await button.click();
    await page.click("#confirm-ok");
    await page.locator("#toast:not([hidden])").waitFor();
    await expect(page.locator("#toast").textContent()).resolves.toBe(
      "approved cutover of minilm to minilm-v2",
    );
    expect(await approvedVersion()).toBe("minilm-v2");
    // The watch brings the approval back to the page: the button now says why it is disabled.
    await page
      .locator(`[data-model="${namespace}/minilm"] [data-action=approve][disabled]`)
      .waitFor({ timeout: 30_000 });
    await expect(button.getAttribute("title")).resolves.toBe("minilm-v2 is already approved");
  });

  it("refuses actions from another origin", async () => {
    const response = await fetch(`${url}api/models/${namespace}/minilm/rollback`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example" },
      body: "{}",
    });
    expect(response.status).toBe(403);
    const model = await heldModel<{ spec: { version: string } }>();
    expect(model.spec.version).toBe("minilm-v2");
  });

  it("abandons the promotion in flight, after confirmation, for the active version's record", async () => {
    const button = page.locator(`[data-model="${namespace}/minilm"] [data-action=rollback]`);
    await expect(button.isDisabled()).resolves.toBe(true);
    await expect(button.getAttribute("title")).resolves.toMatch(/no record of minilm-v1's model/);
    // The operator's record of the active minilm-v1 (written as the operator writes it).
    const held = await heldModel<ReturnType<typeof promotingModel>>();
    const v1Model = { ...held.spec.model, uri: "file:///models/minilm-v1.onnx", precision: "fp32" as const };
    const v1Serving = { ...held.spec.serving, image: "registry.example/jude:1.0" };
    await kubectl(
      ["apply", "--server-side", "--field-manager=dashboard-test", "-f", "-"],
      JSON.stringify(
        desiredVersionRecord(held, {
          version: "minilm-v1",
          promotionStartTime: "2026-11-30T00:00:00Z",
          spec: { model: v1Model, prompts: held.spec.prompts, serving: v1Serving },
        }),
      ),
    );
    await page
      .locator(`[data-model="${namespace}/minilm"] [data-action=rollback]:not([disabled])`)
      .waitFor({ timeout: 30_000 });
    await expect(button.textContent()).resolves.toBe("Abandon minilm-v2");
    await button.click();
    await expect(page.locator("#confirm-title").textContent()).resolves.toBe(
      "Abandon the promotion of minilm to minilm-v2?",
    );
    await page.click("#confirm-ok");
    await page.locator("#toast:not([hidden])", { hasText: /abandoning|refused/ }).waitFor();
    await expect(page.locator("#toast").textContent()).resolves.toBe(
      "abandoning the promotion of minilm to minilm-v2: spec.version back to the active minilm-v1, with its recorded model, prompts and serving settings",
    );
    const model = await heldModel<{
      spec: { version: string; model: { uri: string }; serving: { image?: string } };
    }>();
    expect(model.spec.version).toBe("minilm-v1");
    expect(model.spec.model.uri).toBe("file:///models/minilm-v1.onnx");
    expect(model.spec.serving.image).toBe("registry.example/jude:1.0");
  });

  it("rolls back, after confirmation, to the retained version with the model the operator recorded", async () => {
    const button = page.locator(`[data-model="${namespace}/minilm"] [data-action=rollback]`);
    // The operator's record of minilm-v0 (written as the operator writes it) makes the rollback possible.
    const held = await heldModel<ReturnType<typeof promotingModel>>();
    const v0Model = { ...held.spec.model, uri: "file:///models/minilm-v0.onnx", precision: "fp32" as const };
    await kubectl(
      ["apply", "--server-side", "--field-manager=dashboard-test", "-f", "-"],
      JSON.stringify(
        desiredVersionRecord(held, {
          version: "minilm-v0",
          promotionStartTime: "2026-10-31T00:00:00Z",
          spec: { model: v0Model, prompts: held.spec.prompts, serving: held.spec.serving },
        }),
      ),
    );
    await page
      .locator(`[data-model="${namespace}/minilm"] [data-action=rollback]:not([disabled])`, {
        hasText: "minilm-v0",
      })
      .waitFor({ timeout: 30_000 });
    await expect(button.textContent()).resolves.toBe("Roll back to minilm-v0");
    await page.locator("#toast").evaluate((toast: { hidden: boolean }) => (toast.hidden = true));
    await button.click();
    await page.click("#confirm-ok");
    await page.locator("#toast:not([hidden])", { hasText: /rolling|refused/ }).waitFor();
    await expect(page.locator("#toast").textContent()).resolves.toBe(
      "rolling minilm back to minilm-v0 (was minilm-v1)",
    );
    const model = await heldModel<{ spec: { version: string; model: { uri: string; precision: string } } }>();
    expect(model.spec.version).toBe("minilm-v0");
    expect(model.spec.model).toMatchObject({ uri: "file:///models/minilm-v0.onnx", precision: "fp32" });
  });

  it("refuses to abandon a candidate that is no longer being promoted, and changes nothing", async () => {
    // A page that offered to abandon minilm-v2 before the spec moved on (to minilm-v0 now): the same
    // version would now abandon another candidate, or, had minilm-v2 become active, move readers back.
    const response = await fetch(`${url}api/models/${namespace}/minilm/rollback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ version: "minilm-v1", abandons: "minilm-v2" }),
    });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toBe(
      "minilm-v2 is no longer being promoted (active: minilm-v1, spec.version: minilm-v0); nothing was changed; look again",
    );
    const model = await heldModel<{ spec: { version: string } }>();
    expect(model.spec.version).toBe("minilm-v0");
  });

  it("shows a Stalled pipeline that has no figures, with its message set as text", async () => {
    // A stalled pipeline runs no workers, so it reports no versions: the page must still list it and
    // say why, as `kubectl jude status` does. The message is the operator's; markup in it stays text.
    const stalled = jobsPipeline();
    stalled.metadata = { ...stalled.metadata, name: "resumes" };
    const message = 'sinks.store.name "recs" belongs to <img src=x onerror="document.title=1"> bge';
    stalled.status = {
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: "StoreConflict",
          message,
          lastTransitionTime: "2026-12-01T10:02:00Z",
        },
        {
          type: "Stalled",
          status: "True",
          reason: "StoreConflict",
          message,
          lastTransitionTime: "2026-12-01T10:02:00Z",
        },
      ],
    };
    await applyWithStatus(stalled, namespace, stalled.status);
    const card = page.locator(`[data-model="${namespace}/minilm"]`);
    await card.locator('tr[data-pipeline="resumes"]').waitFor({ timeout: 30_000 });
    await expect(card.locator('[data-pipeline-message="resumes"]').textContent()).resolves.toBe(
      `resumes not ready: ${message}`,
    );
    await expect(card.locator(".pipelines img").count()).resolves.toBe(0);
    await expect(page.title()).resolves.not.toBe("1");
  });

  it("says why a bootstrap run does not progress, under the bars, with its message set as text", async () => {
    // Pods refused by a quota: only the run's status says so (its bar just stays at 0%).
    const run = bootstrapOfV2();
    run.metadata = { ...run.metadata, name: "jobs-minilm-v2-retry" };
    const message =
      'the API server refuses to create its pods: pods "x" is forbidden: exceeded quota: <b>compute</b>';
    const lastTransitionTime = "2026-12-01T10:03:00Z";
    await applyWithStatus(run, namespace, {
      phase: "Running",
      progress: { total: 12000, processed: 0, percent: 0 },
      conditions: [{ type: "Ready", status: "False", reason: "FailedCreate", message, lastTransitionTime }],
    });
    const card = page.locator(`[data-model="${namespace}/minilm"]`);
    const shown = card.locator('[data-bootstrap-message="jobs-minilm-v2-retry"]');
    await shown.waitFor({ timeout: 30_000 });
    await expect(shown.textContent()).resolves.toBe(`jobs-minilm-v2-retry: ${message}`);
    await expect(card.locator('[data-bootstrap-message="jobs-minilm-v2"]').count()).resolves.toBe(0);
    await expect(card.locator(".bootstraps b").count()).resolves.toBe(0);
  });

  it("lists a pipeline naming no existing model after the models, with why, as status does", async () => {
    // A typo in spec.modelRef.name: the operator stalls the pipeline, and no model's card shows it.
    const orphan = jobsPipeline();
    orphan.metadata = { ...orphan.metadata, name: "jobs-typo" };
    orphan.spec.modelRef.name = "minlm";
    const message = `spec.modelRef.name: EmbeddingModel minlm does not exist in namespace ${namespace}`;
    const lastTransitionTime = "2026-12-01T10:04:00Z";
    orphan.status = {
      conditions: [
        { type: "Ready", status: "False", reason: "ModelNotFound", message, lastTransitionTime },
        { type: "Stalled", status: "True", reason: "ModelNotFound", message, lastTransitionTime },
      ],
    };
    await applyWithStatus(orphan, namespace, orphan.status);
    // Created, then its status written: the page shows it once the status is in.
    const row = page.locator(`tr[data-unattached-pipeline="${namespace}/jobs-typo"][data-ready=False]`);
    await row.waitFor({ timeout: 30_000 });
    await expect(row.locator("td").allTextContents()).resolves.toEqual([
      `${namespace}/jobs-typo`,
      "minlm",
      "job",
      "False",
    ]);
    await expect(
      page.locator(`[data-unattached-message="${namespace}/jobs-typo"]`).textContent(),
    ).resolves.toBe(`${namespace}/jobs-typo (model minlm) not ready: ${message}`);
    // Under no model's card, and the same line `kubectl jude status` prints.
    await expect(page.locator('.model[data-model] [data-pipeline="jobs-typo"]').count()).resolves.toBe(0);
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        join(repoRoot, "cli/kubectl-jude.ts"),
        "status",
        "-n",
        namespace,
        "--kubeconfig",
        requireEnv("KUBECONFIG"),
      ],
      { cwd: repoRoot },
    );
    expect(stdout).toContain(`  ${namespace}/jobs-typo (model minlm) not ready: ${message}\n`);
  });

  it("titles a model's first version as such, not a promotion from an undefined version", async () => {
    // A fresh model (the quickstart's first act): no version is active yet; its gates are open.
    const fresh = promotingModel();
    fresh.metadata = { ...fresh.metadata, name: "fresh", uid: "u-fresh" };
    fresh.spec.version = "fresh-v1";
    fresh.status = {
      conditions: [
        {
          type: "ServingReady",
          status: "False",
          reason: "Waiting",
          message: "version fresh-v1: 0/1 replicas ready",
          lastTransitionTime: "2026-12-01T10:05:00Z",
        },
        // The operator leaves some messages empty (a BootstrapRun's Failed=False while it runs).
        {
          type: "Stalled",
          status: "False",
          reason: "NotStalled",
          message: "",
          lastTransitionTime: "2026-12-01T10:05:00Z",
        },
      ],
      versions: [{ version: "fresh-v1", phase: "Deploying" }],
    };
    await applyWithStatus(fresh, namespace, fresh.status);
    const title = page.locator(`[data-model="${namespace}/fresh"] .promotion h3`);
    await title.waitFor({ timeout: 30_000 });
    await expect(title.textContent()).resolves.toBe("First version fresh-v1");
    // An empty message: its reason, as the gates show it, not "EmbeddingModel/fresh, now: ".
    const stalled = page
      .locator(`[data-model="${namespace}/fresh"] .timeline li[data-source=condition]`)
      .filter({ hasText: "Stalled" });
    await expect(stalled.locator("span").nth(1).textContent()).resolves.toBe(
      "EmbeddingModel/fresh, now: NotStalled",
    );
  });

  it("dates a condition by its transition and gives its message as it reads now", async () => {
    // The operator rewrites a condition's message in place (a pod's progress, a bootstrap's percent)
    // and keeps lastTransitionTime: under that old time, the message is today's, and says so.
    const entry = page
      .locator(`[data-model="${namespace}/minilm"] .timeline li[data-source=condition]`)
      .filter({ hasText: "ServingReady" });
    await expect(entry.locator("time").getAttribute("datetime")).resolves.toBe("2026-12-01T10:00:00Z");
    await expect(entry.locator("span").nth(1).textContent()).resolves.toBe(
      "EmbeddingModel/minilm, now: 2/2 replicas ready",
    );
    const event = page.locator(`[data-model="${namespace}/minilm"] .timeline li[data-source=event]`).first();
    await expect(event.locator("span").nth(1).textContent()).resolves.toBe(
      "EmbeddingModel/minilm: created BootstrapRun jobs-minilm-v2",
    );
  });

  it("logs no console errors", () => {
    expect(consoleErrors).toEqual([]);
  });
});

/**
 * The dashboard when the API server takes its SelfSubjectAccessReviews and never answers them (an API
 * server under load; a proxy in front of the testbed's holds them): whether the user may change the
 * models cannot be told, so the buttons stay enabled — the API server still decides every action —
 * and the page says, once the review is given up, that the permission could not be checked, instead
 * of looking checked. Until then (the first page is served after 5 s of waiting for the review, it is
 * given up after 10 s) the buttons are disabled and the page says the permission is being checked.
 */
import type { ChildProcess } from "node:child_process";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startApiFaultProxy, type ApiFaultProxy } from "../../support/api-fault-proxy.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { namespaceWithPromotingModel, shownState, startDashboard } from "./dashboard-process.ts";

const namespace = `dashboard-review-hangs-${process.pid}`;
let proxy: ApiFaultProxy;
let plugin: ChildProcess | undefined;
let browser: Browser | undefined;
let url: string;

interface ShownState {
  models: {
    name: string;
    permissionNote?: string;
    permissionChecking?: string;
    actions: Record<"approve" | "rollback", { refused?: string; version?: string }>;
  }[];
}

beforeAll(async () => {
  await namespaceWithPromotingModel(namespace);
  proxy = await startApiFaultProxy(requireEnv("KUBECONFIG"));
  proxy.setRule(({ method, path }) =>
    method === "POST" && path.endsWith("/selfsubjectaccessreviews") ? { status: 0, hang: true } : undefined,
  );
  // Launched first: the page must be open within the seconds the review is being checked.
  browser = await chromium.launch({ executablePath: requireEnv("JUDE_CHROMIUM"), args: ["--no-sandbox"] });
  ({ plugin, url } = await startDashboard(namespace, proxy.kubeconfigPath));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  plugin?.kill("SIGTERM");
  await proxy?.close();
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

const minilm = async () =>
  (await shownState<ShownState>(url)).models.find((model) => model.name === "minilm");

it("disables the buttons and says the permission is being checked while the review has not answered", async () => {
  const checking = `whether proxy may patch embeddingmodels.jude.dev in namespace ${namespace} is being checked (the SelfSubjectAccessReview has not answered yet): the buttons are disabled until it answers, at most 10 s`;
  const shown = (await minilm())!;
  expect(shown.permissionChecking).toBe(checking);
  expect(shown.permissionNote).toBeUndefined();
  // In the browser: the buttons disabled, saying why, and the note beside them.
  const page = await browser!.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(url);
  const card = page.locator(`[data-model="${namespace}/minilm"]`);
  const note = card.locator("[data-field=permission-checking]");
  await note.waitFor({ timeout: 5_000 });
  expect([await note.textContent(), await note.getAttribute("title")]).toEqual([
    "checking permission…",
    checking,
  ]);
  const approve = card.locator("button[data-action=approve]");
  expect(await approve.isDisabled()).toBe(true);
  expect(await approve.getAttribute("title")).toBe(`checking permission… ${checking}`);
  // Rollback is refused for its own reason (no record of the version it would restore): that stays.
  const rollback = card.locator("button[data-action=rollback]");
  expect(await rollback.isDisabled()).toBe(true);
  expect(await rollback.getAttribute("title")).toMatch(/^the operator has no record of /);
  // Once given up, pushed to the open page: no longer being checked, the buttons enabled again.
  await card.locator("[data-field=permission-note]").waitFor({ timeout: 15_000 });
  expect(await note.count()).toBe(0);
  expect(await approve.isDisabled()).toBe(false);
  expect(pageErrors).toEqual([]);
  await page.close();
}, 60_000);

it("keeps the buttons enabled and says the permission could not be checked", async () => {
  await waitFor(
    "the page says the permission was not checked",
    async () => (await minilm())?.permissionNote !== undefined,
    {
      timeoutMs: 30_000,
      intervalMs: 250,
    },
  );
  const shown = (await minilm())!;
  expect(shown.permissionChecking).toBeUndefined();
  expect(shown.permissionNote).toBe(
    `whether proxy may patch embeddingmodels.jude.dev in namespace ${namespace} could not be checked (the SelfSubjectAccessReview got no answer within 10 s): the buttons stay enabled and the API server decides`,
  );
  expect(shown.actions.approve).toEqual({
    version: "minilm-v2",
    summary: "approved cutover of minilm to minilm-v2",
  });
  const reviews = () =>
    proxy.requests.filter((request) => request.path.endsWith("/selfsubjectaccessreviews"));
  expect(reviews().length).toBeGreaterThan(0);
  // The given-up review's request is closed, not left open for as long as the API server hangs (was:
  // one more open request per namespace every 30 s while a page was open).
  await waitFor(
    "the given-up review's request to be closed",
    async () => reviews()[0]!.closedByClient === true,
    {
      timeoutMs: 15_000,
      intervalMs: 250,
    },
  );
  // In the browser: the button enabled, the note beside it and in its tooltip.
  const page = await browser!.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(url);
  const card = page.locator(`[data-model="${namespace}/minilm"]`);
  const note = card.locator("[data-field=permission-note]");
  await note.waitFor({ timeout: 10_000 });
  expect(await note.textContent()).toBe("permission not checked");
  expect(await note.getAttribute("title")).toBe(shown.permissionNote);
  const approve = card.locator("button[data-action=approve]");
  expect(await approve.isDisabled()).toBe(false);
  expect(await approve.getAttribute("title")).toBe(
    `approved cutover of minilm to minilm-v2. Note: ${shown.permissionNote}`,
  );
  expect(pageErrors).toEqual([]);
  // However many times it was asked, at most one review of the namespace is open at a time.
  expect(reviews().filter((request) => request.closedByClient !== true).length).toBeLessThanOrEqual(1);
}, 90_000);

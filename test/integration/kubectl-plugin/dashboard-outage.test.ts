/**
 * `kubectl jude dashboard` when the API server goes away and comes back. The plugin reaches the
 * testbed's API server through a TCP relay that the test closes (every connection cut, new ones
 * refused) and opens again, as a user sees a VPN drop or an API server restart. While the API server
 * does not answer, the page must say so instead of showing the last state as live, and the terminal
 * gets one plain line (not a JSON record with a stack per retry); once it answers, the page is live.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promotingModel } from "../../../cli/kubectl-jude/fixtures.test-data.ts";
import { startDashboard } from "./dashboard-process.ts";
import { applyWithStatus, installCrds } from "../../support/crds.ts";
import { requireEnv } from "../../support/env.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";

const namespace = `dashboard-outage-${process.pid}`;
let relay: Server | undefined;
const relayed = new Set<Socket>();
let relayPort = 0;
let target: { host: string; port: number };
let plugin: ChildProcess;
const terminal: string[] = [];
let browser: Browser;
let page: Page;
let url: string;

/** Relays 127.0.0.1:relayPort to the API server (relayPort 0 the first time: a free one). */
async function openRelay(): Promise<void> {
  relay = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      relayed.add(socket);
      socket.once("close", () => relayed.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => relay!.listen(relayPort, "127.0.0.1", resolve));
  relayPort = (relay.address() as AddressInfo).port;
}

/** The API server gone: open connections cut, new ones refused. */
async function closeRelay(): Promise<void> {
  const closed = new Promise<void>((resolve) => relay!.close(() => resolve()));
  for (const socket of relayed) socket.destroy();
  await closed;
}

/** The dashboard's state as the page gets it. */
async function state(): Promise<{ apiServer?: { message: string; since: string }; models: unknown[] }> {
  return (await (await fetch(new URL("/api/state", url))).json()) as never;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  await installCrds("dashboard-outage-test");
  await kubectl(["create", "namespace", namespace]);
  const model = promotingModel();
  await applyWithStatus(model, namespace, model.status);
  const admin = await kubectlJson<{ clusters: Array<{ cluster: { server: string } }> }>([
    "config",
    "view",
    "--raw",
    "--minify",
  ]);
  const server = new URL(admin.clusters[0]!.cluster.server);
  target = { host: server.hostname, port: Number(server.port) };
  await openRelay();
  admin.clusters[0]!.cluster.server = `https://127.0.0.1:${relayPort}`;
  const kubeconfig = join(mkdtempSync(join(tmpdir(), "dashboard-outage-")), "config");
  writeFileSync(kubeconfig, JSON.stringify(admin));
  ({ plugin, url } = await startDashboard(namespace, kubeconfig, (line) => terminal.push(line)));
  browser = await chromium.launch({ executablePath: requireEnv("JUDE_CHROMIUM"), args: ["--no-sandbox"] });
  page = await browser.newPage();
  await page.goto(url);
  await page.locator("#connection[data-state=live]").waitFor();
});

afterAll(async () => {
  await browser?.close();
  plugin?.kill("SIGTERM");
  if (relay?.listening) await closeRelay();
  await kubectl(["delete", "namespace", namespace, "--wait=false"]);
});

describe("kubectl jude dashboard while the API server is away", () => {
  it("says the page is not live while the watches fail, keeps the last state, and goes live again", async () => {
    expect((await state()).apiServer).toBeUndefined();
    await closeRelay();

    const outage = await until("the outage on the page", async () => (await state()).apiServer, 30_000);
    expect(outage.message).toMatch(/ECONNREFUSED|fetch failed|terminated|socket/);
    expect((await state()).models).toHaveLength(1);
    await page.locator("#connection[data-state=stale]").waitFor({ timeout: 10_000 });
    expect(await page.locator("#connection").textContent()).toMatch(
      /^not live since .+: the API server watches fail \(showing the last state received\)$/,
    );
    expect(await page.locator(".model").count()).toBeGreaterThan(0);

    await openRelay();
    await until("the page live again", async () => ((await state()).apiServer ? undefined : true), 60_000);
    await page.locator("#connection[data-state=live]").waitFor({ timeout: 10_000 });
    // One line when it went, one when it came back; no JSON log records or stack traces.
    expect(terminal.filter((line) => line.includes("the API server watches fail"))).toHaveLength(1);
    expect(terminal).toContain("kubectl jude: the API server watches work again; the page is live");
    expect(terminal.filter((line) => line.startsWith("{") || line.includes("    at "))).toEqual([]);
  }, 150_000);
});

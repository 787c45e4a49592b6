import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { quickstartLockFile } from "./files.ts";
import { checkDashboardPort, claimQuickstart, runningQuickstart } from "./preflight.ts";

describe("claimQuickstart", () => {
  const saved = process.env.JUDE_QUICKSTART_STATE_DIR;
  beforeEach(() => {
    process.env.JUDE_QUICKSTART_STATE_DIR = mkdtempSync(join(tmpdir(), "quickstart-lock-"));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.JUDE_QUICKSTART_STATE_DIR;
    else process.env.JUDE_QUICKSTART_STATE_DIR = saved;
  });

  it("records this process and removes the record when released", () => {
    const release = claimQuickstart("up");
    expect(readFileSync(quickstartLockFile(), "utf8").trim()).toBe(String(process.pid));
    release();
    expect(existsSync(quickstartLockFile())).toBe(false);
  });

  it("refuses up and down while another quickstart process still runs, naming it and what to do", () => {
    writeFileSync(quickstartLockFile(), `${process.ppid}\n`); // a live process that is not this one
    expect(runningQuickstart()).toBe(process.ppid);
    expect(() => claimQuickstart("up")).toThrow(`another quickstart is still running (pid ${process.ppid})`);
    expect(() => claimQuickstart("down")).toThrow(/stop it with Ctrl-C.*then run down/);
    expect(readFileSync(quickstartLockFile(), "utf8").trim()).toBe(String(process.ppid));
  });

  it("takes over the record of a quickstart that is gone (killed, crashed)", () => {
    const gone = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
    writeFileSync(quickstartLockFile(), `${gone}\n`);
    const release = claimQuickstart("up");
    expect(readFileSync(quickstartLockFile(), "utf8").trim()).toBe(String(process.pid));
    release();
  });
});

describe("checkDashboardPort", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  it("names the quickstart's own flag when the port is taken", async () => {
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await expect(checkDashboardPort(port)).rejects.toThrow(
      `the dashboard's port ${port} on 127.0.0.1 is in use (by another quickstart or kubectl jude dashboard?): pick another with --dashboard-port N (0 picks a free one)`,
    );
  });

  it("passes a free port and port 0, and leaves the port free", async () => {
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    await checkDashboardPort(port);
    await checkDashboardPort(port); // the check itself released it
    await checkDashboardPort(0);
  });
});

/**
 * A private redis-server process for fault tests that must kill and restart Redis (the testbed's
 * shared servers must stay up for other suites). Uses the same binary the testbed uses, with an
 * append-only file fsynced on every write, like the testbed's servers.
 */

import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../../testbed/ports.ts";

/** A redis-server this test owns. */
export interface OwnedRedis {
  readonly url: string;
  /** Its working directory (AOF, RDB snapshots). */
  readonly dir: string;
  /** SIGKILL: no graceful shutdown, so only what the AOF fsynced survives. */
  readonly kill: () => Promise<void>;
  /** Starts the server again on the same port and data directory; resolves when it answers PING. */
  readonly restart: () => Promise<void>;
  /** SIGSTOP: the server hangs with its connections open, as a stalled host or a half-open link. */
  readonly pause: () => void;
  /** SIGCONT after `pause`. */
  readonly resume: () => void;
  /** Stops the server and removes its data directory. */
  readonly destroy: () => Promise<void>;
}

async function waitForReady(port: number, child: ChildProcess): Promise<void> {
  // ioredis keeps reconnecting every 20 ms until the server listens and has loaded its AOF ("ready").
  const probe = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 0, retryStrategy: () => 20 });
  probe.on("error", () => undefined);
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`redis-server exited with ${String(code)} during start-up`);
  });
  try {
    // Not events.once: it would reject on the connection errors expected before the server listens.
    const ready = new Promise<void>((resolve) => probe.once("ready", () => resolve()));
    await Promise.race([ready, exited]);
  } finally {
    probe.disconnect();
  }
}

/** Starts a private redis-server with AOF (appendfsync always) on a free loopback port. */
export async function startOwnedRedis(): Promise<OwnedRedis> {
  const binary = process.env["JUDE_REDIS_SERVER_BIN"] ?? "redis-server";
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "jude-store-restart-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push("--appendonly", "yes", "--appendfsync", "always", "--logfile", join(dir, "redis.log"));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(binary, args, { stdio: "ignore" });
    await waitForReady(port, child);
  };
  const kill = async () => {
    const running = child;
    child = null;
    if (running === null || running.exitCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGKILL");
    await exited;
  };
  try {
    await start();
  } catch (error) {
    // Never leave a stray server or data directory behind when start-up fails.
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill,
    restart: start,
    pause: () => {
      (child as ChildProcess | null)?.kill("SIGSTOP");
    },
    resume: () => {
      (child as ChildProcess | null)?.kill("SIGCONT");
    },
    destroy: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

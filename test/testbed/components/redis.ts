import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import type { Component, ComponentState } from "../component.ts";
import { installDebianPackages } from "../debian-packages.ts";
import { stateDir } from "../paths.ts";
import { freeClusterPort, freePort } from "../ports.ts";
import { isAlive, startDaemon, stopDaemon } from "../process.ts";
import { TestbedStepError } from "../step.ts";
import { waitFor } from "../wait.ts";

const run = promisify(execFile);

interface RedisDetails {
  standalonePort: number;
  clusterPorts: number[];
}

function which(binary: string): string | undefined {
  for (const folder of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(folder, binary);
    if (folder !== "" && existsSync(candidate)) return candidate;
  }
  return undefined;
}

const serverBinary = (): string =>
  process.env.JUDE_REDIS_SERVER_BIN ?? which("redis-server") ?? "redis-server";
const cliBinary = (): string => process.env.JUDE_REDIS_CLI_BIN ?? which("redis-cli") ?? "redis-cli";
const dir = (): string => join(stateDir(), "redis");
const logFile = (name: string): string => join(stateDir(), "logs", `redis-${name}.log`);

/**
 * Redis from Debian's packages: one standalone server and a three-master Redis Cluster, each with an
 * append-only file so a restart mid-stream (fault tests) keeps what was acknowledged.
 * `JUDE_TESTBED_REDIS_URL` / `JUDE_TESTBED_REDIS_CLUSTER_NODES` point at existing servers instead.
 */
export const redis: Component = {
  name: "redis",
  requires: [],
  overrides: {
    JUDE_TESTBED_REDIS_URL: "use an existing standalone Redis (redis://host:port); set with the next one",
    JUDE_TESTBED_REDIS_CLUSTER_NODES: "use an existing Redis Cluster (host:port,host:port,…)",
    JUDE_REDIS_SERVER_BIN: "a redis-server binary (default: from PATH, installed from Debian if missing)",
    JUDE_REDIS_CLI_BIN: "a redis-cli binary (default: from PATH, installed from Debian if missing)",
  },

  provisionSteps() {
    if (
      process.env.JUDE_TESTBED_REDIS_URL !== undefined &&
      process.env.JUDE_TESTBED_REDIS_CLUSTER_NODES !== undefined
    )
      return [];
    if (existsSync(serverBinary()) && existsSync(cliBinary())) return [];
    return [
      {
        name: "install redis",
        lane: "apt",
        run: () =>
          installDebianPackages({
            step: "redis",
            packages: ["redis-server", "redis-tools"],
            // Both are used (redis-cli creates the cluster): either one missing installs both packages.
            alternative: "set JUDE_REDIS_SERVER_BIN and JUDE_REDIS_CLI_BIN",
          }),
      },
    ];
  },

  async start(previous) {
    const externalUrl = process.env.JUDE_TESTBED_REDIS_URL;
    const externalCluster = process.env.JUDE_TESTBED_REDIS_CLUSTER_NODES;
    if (previous === undefined && externalUrl !== undefined && externalCluster !== undefined) {
      return {
        pids: [],
        external: true,
        env: { JUDE_REDIS_URL: externalUrl, JUDE_REDIS_CLUSTER_NODES: externalCluster },
        details: {},
      };
    }
    const prior = previous?.details as RedisDetails | undefined;
    const details: RedisDetails = prior ?? {
      standalonePort: await freePort(),
      clusterPorts: [await freeClusterPort(), await freeClusterPort(), await freeClusterPort()],
    };
    if (prior === undefined) rmSync(dir(), { recursive: true, force: true });
    const pids: number[] = [];
    try {
      pids.push(startServer("standalone", details.standalonePort, false));
      for (const [index, port] of details.clusterPorts.entries())
        pids.push(startServer(`cluster-${index}`, port, true));
      for (const port of [details.standalonePort, ...details.clusterPorts]) {
        await waitFor(`redis on port ${port}`, async () => (await cli(port, "PING")) === "PONG");
      }
      if (prior === undefined) {
        await run(cliBinary(), [
          "--cluster",
          "create",
          ...details.clusterPorts.map((port) => `127.0.0.1:${port}`),
          "--cluster-replicas",
          "0",
          "--cluster-yes",
        ]);
      }
      await waitFor("redis cluster_state:ok", () => clusterOk(details.clusterPorts), { timeoutMs: 60_000 });
    } catch (error) {
      for (const pid of pids) await stopDaemon(pid);
      throw new TestbedStepError("start redis", String(error), logFile("standalone"), { cause: error });
    }
    const state: ComponentState = {
      pids,
      external: false,
      env: {
        JUDE_REDIS_URL: `redis://127.0.0.1:${details.standalonePort}`,
        JUDE_REDIS_CLUSTER_NODES: details.clusterPorts.map((port) => `127.0.0.1:${port}`).join(","),
      },
      details: { ...details },
    };
    return state;
  },

  async isReady(state) {
    if (state.external) return true;
    const details = state.details as unknown as RedisDetails;
    if (!state.pids.every(isAlive)) return false;
    return (
      (await cli(details.standalonePort, "PING").catch(() => "")) === "PONG" &&
      (await clusterOk(details.clusterPorts))
    );
  },

  async stop(state) {
    for (const pid of state.pids) await stopDaemon(pid);
  },
};

function startServer(name: string, port: number, cluster: boolean): number {
  const data = join(dir(), name);
  mkdirSync(data, { recursive: true });
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    data,
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--daemonize",
    "no",
    "--protected-mode",
    "no",
    "--logfile",
    "",
  ];
  if (cluster)
    args.push(
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-node-timeout",
      "5000",
    );
  return startDaemon(serverBinary(), args, { logFile: logFile(name) });
}

async function cli(port: number, ...command: string[]): Promise<string> {
  const { stdout } = await run(cliBinary(), ["-h", "127.0.0.1", "-p", String(port), ...command]);
  return stdout.trim();
}

async function clusterOk(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const info = await cli(port, "CLUSTER", "INFO").catch(() => "");
    if (!info.includes("cluster_state:ok")) return false;
  }
  return true;
}

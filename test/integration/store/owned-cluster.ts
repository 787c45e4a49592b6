/**
 * A private Redis Cluster for tests that move slots, fail over or stop nodes: the testbed's shared
 * cluster must stay as it is for the other suites. Starts `masters` primaries (and `replicasPerMaster`
 * replicas each) on free loopback ports under a temporary directory, joins them with
 * `redis-cli --cluster create`, and stops exactly those processes on `destroy`.
 */

import type { ChildProcess } from "node:child_process";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freeClusterPort } from "../../testbed/ports.ts";
import { waitFor } from "../../testbed/wait.ts";

const run = promisify(execFile);
const polling = { timeoutMs: 30_000, intervalMs: 100 };

/** One node of the owned cluster. */
export interface ClusterNode {
  readonly port: number;
  readonly address: string;
  /** A plain (non-cluster) connection to this node, for CLUSTER commands. */
  readonly admin: Redis;
  /** SIGKILLs this node (a crashed primary or replica). */
  readonly kill: () => Promise<void>;
  /** SIGSTOPs this node: its connections stay open but nothing answers (a hung or partitioned node). */
  readonly pause: () => void;
}

/** The owned cluster. */
export interface OwnedCluster {
  readonly nodes: readonly ClusterNode[];
  /** `host:port` of every node, as a seed list. */
  readonly seeds: string[];
  /** The node whose `CLUSTER NODES` line says `myself`, with its id. */
  readonly nodeId: (node: ClusterNode) => Promise<string>;
  /** The primary that serves `slot` now, by asking the cluster. */
  readonly ownerOf: (slot: number) => Promise<ClusterNode>;
  /** Every node's own view of the cluster (`CLUSTER NODES`), for a failing test's output. */
  readonly views: () => Promise<string>;
  /**
   * Resolves once every node names the same owner for every slot (a move has reached them all);
   * throws with the first slot they disagree on and every node's view if they never do.
   */
  readonly settled: () => Promise<void>;
  /** Stops every process this cluster started and removes its directory. */
  readonly destroy: () => Promise<void>;
}

/** Starts a private cluster; the caller must `destroy()` it. */
export async function startOwnedCluster(
  options: {
    masters?: number;
    replicasPerMaster?: number;
    nodeTimeoutMs?: number;
    /** Every node wants this password (requirepass, and masterauth for replicas). */
    password?: string;
  } = {},
): Promise<OwnedCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const binary = process.env["JUDE_REDIS_SERVER_BIN"] ?? "redis-server";
  const cliBinary = process.env["JUDE_REDIS_CLI_BIN"] ?? "redis-cli";
  const dir = mkdtempSync(join(tmpdir(), "jude-store-cluster-"));
  const children: ChildProcess[] = [];
  const nodes: ClusterNode[] = [];
  const destroy = async () => {
    for (const node of nodes) node.admin.disconnect();
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < masters * (1 + replicas); index++) {
      const port = await freeClusterPort();
      const data = join(dir, String(port));
      mkdirSync(data);
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", data, "--save", ""];
      args.push("--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf");
      args.push("--cluster-node-timeout", String(options.nodeTimeoutMs ?? 2_000));
      args.push("--logfile", join(data, "redis.log"));
      if (options.password !== undefined)
        args.push("--requirepass", options.password, "--masterauth", options.password);
      const child = spawn(binary, args, { stdio: "ignore" });
      children.push(child);
      const admin = new Redis(port, "127.0.0.1", {
        maxRetriesPerRequest: 1,
        retryStrategy: () => 50,
        ...(options.password !== undefined ? { password: options.password } : {}),
      });
      admin.on("error", () => undefined);
      const kill = async () => {
        admin.disconnect();
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      };
      const pause = () => {
        admin.disconnect();
        child.kill("SIGSTOP");
      };
      nodes.push({ port, address: `127.0.0.1:${port}`, admin, kill, pause });
    }
    await waitFor(
      "cluster nodes to answer",
      async () =>
        (await Promise.all(nodes.map((node) => node.admin.ping()))).every((reply) => reply === "PONG"),
      polling,
    );
    await run(cliBinary, [
      ...(options.password !== undefined ? ["--no-auth-warning", "-a", options.password] : []),
      "--cluster",
      "create",
      ...nodes.map((node) => node.address),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    ]);
    await waitFor(
      "cluster_state:ok on every node",
      async () => {
        for (const node of nodes) {
          const info = (await node.admin.call("CLUSTER", "INFO")) as string;
          if (!info.includes("cluster_state:ok")) return false;
          const known = ((await node.admin.call("CLUSTER", "NODES")) as string).trim().split("\n");
          if (known.length !== nodes.length || known.some((line) => line.includes("handshake"))) return false;
        }
        return true;
      },
      polling,
    );
  } catch (error) {
    // A node that exited says why in its log, which destroy() removes.
    const exited = nodes.flatMap((node, index) => {
      const child = children[index];
      if (child === undefined || (child.exitCode === null && child.signalCode === null)) return [];
      const logFile = join(dir, String(node.port), "redis.log");
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8").trim().split("\n") : ["no log"];
      return [
        `node ${node.address} exited (${child.exitCode ?? child.signalCode}): ${log.slice(-3).join(" | ")}`,
      ];
    });
    await destroy();
    if (exited.length > 0) throw new Error(`${String(error)}; ${exited.join("; ")}`, { cause: error });
    throw error;
  }
  const nodeId = async (node: ClusterNode) => String(await node.admin.call("CLUSTER", "MYID"));
  const ownerOf = async (slot: number) => {
    for (const node of nodes) {
      const ranges = (await node.admin.call("CLUSTER", "SLOTS").catch(() => null)) as
        [number, number, [string, number, string]][] | null;
      if (ranges === null) continue;
      for (const [from, to, [, port]] of ranges) {
        if (slot >= from && slot <= to) {
          const owner = nodes.find((each) => each.port === Number(port));
          if (owner !== undefined) return owner;
        }
      }
    }
    throw new Error(`no node serves slot ${slot}`);
  };
  const views = async () => {
    const lines = await Promise.all(
      nodes.map(async (node) => {
        const view = await node.admin.call("CLUSTER", "NODES").catch((error: unknown) => String(error));
        return `${node.address} sees:\n${String(view).trim()}`;
      }),
    );
    return lines.join("\n");
  };
  const settled = async () => {
    let disagreement = "";
    try {
      await waitFor(
        "every node to name the same owner for every slot",
        async () => {
          const maps = await Promise.all(nodes.map(async (node) => slotOwners(node)));
          const first = maps[0] ?? [];
          const slot = first.findIndex((owner, index) => maps.some((map) => map[index] !== owner));
          disagreement =
            slot === -1
              ? ""
              : `slot ${slot}: ${nodes.map((node, index) => `${node.address} says ${maps[index]?.[slot] ?? "nobody"}`).join(", ")}`;
          return slot === -1;
        },
        polling,
      );
    } catch (error) {
      throw new Error(`${String(error)}; ${disagreement}\n${await views()}`, { cause: error });
    }
  };
  return { nodes, seeds: nodes.map((node) => node.address), nodeId, ownerOf, views, settled, destroy };
}

/** The `host:port` of the primary that `node` says serves each slot ("" where it names none). */
async function slotOwners(node: ClusterNode): Promise<string[]> {
  const owners = Array.from({ length: 16_384 }, () => "");
  const ranges = (await node.admin.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
  for (const [from, to, [host, port]] of ranges) owners.fill(`${host}:${port}`, from, to + 1);
  return owners;
}

/**
 * Moves every key of `slot` from `source` to `target` the way `redis-cli --cluster reshard` does:
 * IMPORTING on the target, MIGRATING on the source, MIGRATE of each key. With `finish` the slot is
 * then assigned to the target on every node (afterwards the source answers MOVED); without it the
 * slot stays mid-migration (the source answers ASK for keys it no longer has).
 */
export async function migrateSlot(
  cluster: OwnedCluster,
  slot: number,
  source: ClusterNode,
  target: ClusterNode,
  finish: boolean,
): Promise<void> {
  const [sourceId, targetId] = await Promise.all([cluster.nodeId(source), cluster.nodeId(target)]);
  await target.admin.call("CLUSTER", "SETSLOT", slot, "IMPORTING", sourceId);
  await source.admin.call("CLUSTER", "SETSLOT", slot, "MIGRATING", targetId);
  for (;;) {
    const keys = (await source.admin.call("CLUSTER", "GETKEYSINSLOT", slot, 100)) as string[];
    if (keys.length === 0) break;
    await source.admin.call("MIGRATE", "127.0.0.1", target.port, "", 0, 5_000, "KEYS", ...keys);
  }
  if (finish) await finishMigration(cluster, slot, target);
}

/**
 * Assigns a migrating slot to `target` on every primary, then waits until every node agrees (so the
 * next step starts from one cluster-wide view, not from gossip still in flight).
 */
export async function finishMigration(
  cluster: OwnedCluster,
  slot: number,
  target: ClusterNode,
): Promise<void> {
  const targetId = await cluster.nodeId(target);
  // The target first, as redis-cli does, so the slot never has no owner.
  for (const node of [target, ...cluster.nodes.filter((each) => each !== target)]) {
    await node.admin.call("CLUSTER", "SETSLOT", slot, "NODE", targetId).catch(() => undefined);
  }
  await cluster.settled();
}

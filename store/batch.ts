/**
 * Pipelined execution of many single-slot commands. On a standalone server everything goes into one
 * pipeline (chunked); on Redis Cluster commands are grouped by the node set that serves their slot,
 * because ioredis only accepts a pipeline whose keys all live on one node. Groups run concurrently.
 *
 * While slots move (resharding) a node answers MOVED or ASK for the commands of a slot it no longer
 * (or not fully) serves. ioredis follows a redirection of a pipeline only when every command of it
 * failed with the same one, which a pipeline spanning several slots rarely does: the other commands
 * succeed and the redirected ones come back as errors. Those are re-sent here, one pipeline per slot
 * (so each gets a single redirection that ioredis follows, ASKING included, in input order). A
 * redirected command was not executed, so re-sending it never applies anything twice.
 *
 * A single command's MOVED (e.g. a flip after the control slot moved) makes ioredis repoint the slot
 * array it shares with every slot of that range, while its own per-slot grouping changes for the one
 * slot only; until its slot refresh completes it then refuses a pipeline grouped from that array
 * ("... same slots allocation group"), before sending anything. Such pipelines are re-sent per slot too.
 */

import type { ChainableCommander, Cluster } from "ioredis";
import { chunk } from "../plumbing/chunks.ts";
import type { RedisClient } from "./commands.ts";
import { defineStoreCommands } from "./commands.ts";
import { keySlot } from "./slot.ts";

/** One command to pipeline: its routing key and a function that queues exactly one command. */
export interface BatchCommand {
  readonly key: string;
  readonly queue: (pipeline: ChainableCommander) => void;
}

/** Outcome of one command: an error or the reply. */
export type BatchResult =
  { readonly error: Error; readonly value?: undefined } | { readonly error: null; readonly value: unknown };

/** Largest pipeline sent at once; bounds the memory of one request and its reply. */
export const MAX_PIPELINE_LENGTH = 1000;

/** Rounds of re-sending redirected commands before their error is returned (MOVED/ASK: transient). */
const MAX_REDIRECT_ROUNDS = 5;

/**
 * Sends the commands in as few pipelines as possible and returns one result per command, in order.
 * Never throws for a failing command; a failure of a whole pipeline becomes each of its commands' error.
 */
export async function execBatch(
  client: RedisClient,
  commands: readonly BatchCommand[],
): Promise<BatchResult[]> {
  const results = new Array<BatchResult>(commands.length);
  if (commands.length === 0) return results;
  defineStoreCommands(client);
  const groups = await groupByNode(client, commands);
  const pipelines = [...groups.values()].flatMap((indexes) => chunk(indexes, MAX_PIPELINE_LENGTH));
  await Promise.all(pipelines.map((indexes) => runPipeline(client, commands, indexes, results)));
  if (isCluster(client)) await resendRedirected(client, commands, results);
  return results;
}

/**
 * Whether a command failed without being executed because of where it was sent: a Cluster redirection,
 * or ioredis refusing a pipeline whose slots its map no longer places on one node.
 */
export function needsResendPerSlot(error: Error | null): boolean {
  return (
    error !== null &&
    (/^(MOVED|ASK) \d+ /.test(error.message) ||
      error.message.startsWith("All keys in the pipeline should belong to the same slots allocation group"))
  );
}

async function resendRedirected(
  cluster: Cluster,
  commands: readonly BatchCommand[],
  results: BatchResult[],
): Promise<void> {
  for (let round = 0; round < MAX_REDIRECT_ROUNDS; round++) {
    const bySlot = new Map<number, number[]>();
    results.forEach((result, index) => {
      if (!needsResendPerSlot(result.error)) return;
      const slot = keySlot((commands[index] as BatchCommand).key);
      let members = bySlot.get(slot);
      if (members === undefined) bySlot.set(slot, (members = []));
      members.push(index);
    });
    if (bySlot.size === 0) return;
    const pipelines = [...bySlot.values()].flatMap((indexes) => chunk(indexes, MAX_PIPELINE_LENGTH));
    await Promise.all(pipelines.map((indexes) => runPipeline(cluster, commands, indexes, results)));
  }
}

async function runPipeline(
  client: RedisClient,
  commands: readonly BatchCommand[],
  indexes: readonly number[],
  results: BatchResult[],
): Promise<void> {
  const pipeline = client.pipeline();
  for (const index of indexes) (commands[index] as BatchCommand).queue(pipeline);
  let replies: [Error | null, unknown][] | null;
  try {
    replies = await pipeline.exec();
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    for (const index of indexes) results[index] = { error: failure };
    return;
  }
  indexes.forEach((index, position) => {
    const reply = replies?.[position];
    if (reply === undefined) results[index] = { error: new Error("pipeline returned no reply") };
    else if (reply[0]) results[index] = { error: reply[0] };
    else results[index] = { error: null, value: reply[1] };
  });
}

async function groupByNode(
  client: RedisClient,
  commands: readonly BatchCommand[],
): Promise<Map<string, number[]>> {
  const groups = new Map<string, number[]>();
  const cluster = isCluster(client) ? client : null;
  if (cluster !== null) await waitForSlots(cluster);
  commands.forEach((command, index) => {
    // Slots unknown (mid-refresh) fall into per-slot groups; ioredis then routes each on its own.
    const group =
      cluster === null
        ? "standalone"
        : (cluster.slots[keySlot(command.key)]?.join(",") ?? `slot:${keySlot(command.key)}`);
    let members = groups.get(group);
    if (members === undefined) groups.set(group, (members = []));
    members.push(index);
  });
  return groups;
}

/**
 * Re-reads a Cluster's slot map; a no-op on a standalone server; never throws. ioredis refreshes it on
 * its own only after a MOVED or a closed connection, so a primary that hangs (timeouts, connection
 * still open) would keep receiving a retrying writer's commands long after its replica took over.
 */
export function refreshClusterSlots(client: RedisClient): Promise<void> {
  if (!isCluster(client)) return Promise.resolve();
  return new Promise((resolve) => client.refreshSlotsCache(() => resolve()));
}

/**
 * What a client does after a transient failure, before it is retried. On a Cluster: re-read the slot
 * map (see refreshClusterSlots). On a standalone server, after a command timeout: reconnect. ioredis
 * keeps a connection whose command timed out, so if the server vanished without closing it (its pod
 * gone with its node: no FIN, no RST) every later command would time out on it too, for as long as
 * the kernel retransmits (about 15 minutes), while a new connection through the Service reaches the
 * replacement. Commands still pending on it are sent again on the new one; every store write is
 * conditional (newer wins), so none is applied twice out of order. Never throws.
 */
export async function recoverConnection(client: RedisClient, failure: unknown): Promise<void> {
  if (isCluster(client)) return refreshClusterSlots(client);
  if (isCommandTimeout(failure) && client.status === "ready") client.disconnect(true);
}

function isCommandTimeout(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause)
    if (cause.message.includes("Command timed out")) return true;
  return false;
}

/** Whether the client is a Redis Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

function waitForSlots(cluster: Cluster): Promise<void> {
  if (cluster.slots.length > 0) return Promise.resolve();
  if (cluster.status === "wait") cluster.connect().catch(() => undefined);
  return new Promise((resolve, reject) => {
    cluster.delayUntilReady((error) => (error ? reject(error as Error) : resolve()));
  });
}

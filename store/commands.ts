/**
 * Registers the store's Lua scripts on an ioredis client (standalone or Cluster) as custom commands.
 * ioredis sends EVAL the first time a script runs on a connection and EVALSHA afterwards, and falls
 * back to EVAL on NOSCRIPT, so scripts survive a Redis restart that empties the script cache.
 */

import type { ChainableCommander, Cluster, Redis } from "ioredis";
import {
  advanceGcLua,
  claimOwnerLua,
  flipLua,
  initMetaLua,
  markCompleteLua,
  markDeletingLua,
  registerVersionLua,
} from "./scripts/control-scripts.ts";
import {
  claimTextLua,
  putTextLua,
  recordSourceOffsetLua,
  releaseTextClaimLua,
  writeRecordLua,
} from "./scripts/record-scripts.ts";

/** A connected ioredis client: one standalone server or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Names of the store's custom commands; prefixed so they never collide with a caller's own. */
export const scriptDefinitions = {
  judeStoreWrite: { lua: writeRecordLua, numberOfKeys: 3 },
  judeStoreClaimText: { lua: claimTextLua, numberOfKeys: 2 },
  judeStorePutText: { lua: putTextLua, numberOfKeys: 3 },
  judeStoreReleaseText: { lua: releaseTextClaimLua, numberOfKeys: 1 },
  judeStoreInitMeta: { lua: initMetaLua, numberOfKeys: 1 },
  judeStoreRegisterVersion: { lua: registerVersionLua, numberOfKeys: 1 },
  judeStoreMarkComplete: { lua: markCompleteLua, numberOfKeys: 1 },
  judeStoreFlip: { lua: flipLua, numberOfKeys: 2 },
  judeStoreMarkDeleting: { lua: markDeletingLua, numberOfKeys: 2 },
  judeStoreAdvanceGc: { lua: advanceGcLua, numberOfKeys: 1 },
  judeStoreClaimOwner: { lua: claimOwnerLua, numberOfKeys: 1 },
  judeStoreRecordSourceOffset: { lua: recordSourceOffsetLua, numberOfKeys: 1 },
} as const;

/** Name of one of the store's scripts. */
export type ScriptName = keyof typeof scriptDefinitions;

type ScriptArg = string | number | Buffer;
type ScriptFunction = (...args: ScriptArg[]) => Promise<unknown>;
type PipelineScriptFunction = (...args: ScriptArg[]) => ChainableCommander;

/** Defines every store script on the client once; later calls are no-ops. */
export function defineStoreCommands(client: RedisClient): void {
  const defined = client.scriptsSet as Record<string, unknown>;
  for (const [name, definition] of Object.entries(scriptDefinitions)) {
    if (defined[name] === undefined) client.defineCommand(name, definition);
  }
}

/**
 * Runs a script directly (not pipelined). `buffers` asks for Buffer replies, needed when the reply
 * carries vector bytes that must not be decoded as UTF-8.
 */
export function runScript(
  client: RedisClient,
  name: ScriptName,
  args: ScriptArg[],
  buffers = false,
): Promise<unknown> {
  defineStoreCommands(client);
  const fn = (client as unknown as Record<string, ScriptFunction>)[buffers ? `${name}Buffer` : name];
  if (fn === undefined) throw new Error(`script ${name} is not defined on the client`);
  return fn.apply(client, args);
}

/** Queues a script on a pipeline created from a client on which `defineStoreCommands` ran. */
export function queueScript(
  pipeline: ChainableCommander,
  name: ScriptName,
  args: ScriptArg[],
  buffers = false,
): void {
  const fn = (pipeline as unknown as Record<string, PipelineScriptFunction>)[
    buffers ? `${name}Buffer` : name
  ];
  if (fn === undefined) throw new Error(`script ${name} is not defined on the pipeline's client`);
  fn.apply(pipeline, args);
}

/**
 * Waiting until acknowledged store writes are durable, before a pipeline commits its source offsets.
 *
 * Redis acknowledges a write once it is in memory (and, with `appendonly yes`, in the AOF's OS
 * buffer): a host crash can lose up to ~1 s of them under `appendfsync everysec`, and a failover can
 * lose what the replica had not received. After a batch's writes the writer can therefore wait, on
 * every primary that holds the batch's keys, for `WAIT numreplicas timeout` (replicas received them)
 * or `WAITAOF numlocal numreplicas timeout` (fsynced to the AOF locally and on replicas; Redis >= 7.2).
 *
 * Both commands wait for the replication offset of the *connection's* last propagated write. A
 * replayed batch whose writes all come back stale propagates nothing, and a reconnect resets that
 * offset, so each wait is preceded on the same connection by a small marker write (`HSET <stats key>
 * durableAtMs <now>`): its offset is at least that of every write the primary applied before it,
 * including an earlier attempt's whose reply was lost. A wait that falls short is retried with the
 * writer's policy; the offsets stay uncommitted until it succeeds.
 */
import type { Cluster } from "ioredis";
import type { BatchCommand } from "./batch.ts";
import { execBatch, isCluster } from "./batch.ts";
import type { RedisClient } from "./commands.ts";
import { StoreError, StoreErrorCodes } from "./errors.ts";
import { keySlot } from "./slot.ts";

/** What "durable" means for an acknowledged write. */
export interface DurabilityOptions {
  /** Replicas that must have the writes (WAIT), or have fsynced them when `fsync` (WAITAOF). */
  readonly replicas: number;
  /** Also wait until the primary fsynced its AOF (WAITAOF; Redis >= 7.2 with appendonly yes). */
  readonly fsync: boolean;
  /** Longest a single wait blocks before the writer retries it (ms). */
  readonly timeoutMs: number;
}

/** True when the options ask for nothing beyond Redis's own acknowledgement. */
export function isPlainAck(options: DurabilityOptions | undefined): boolean {
  return options === undefined || (options.replicas === 0 && !options.fsync);
}

/**
 * Fails fast (INVALID_ARGUMENT, at start-up) when the server cannot give the asked-for guarantee:
 * WAITAOF needs Redis >= 7.2 and `appendonly yes`.
 */
export async function checkDurabilitySupport(
  client: RedisClient,
  options: DurabilityOptions | undefined,
): Promise<void> {
  if (options === undefined || !options.fsync) return;
  const node = isCluster(client) ? (client.nodes("master")[0] ?? client) : client;
  const [info] = (await node.call("COMMAND", "INFO", "WAITAOF")) as unknown[];
  if (info === null || info === undefined) {
    throw new StoreError(
      StoreErrorCodes.INVALID_ARGUMENT,
      "durability.fsync needs WAITAOF (Redis >= 7.2); on older servers set `appendfsync always` instead and leave fsync off",
    );
  }
  const [, appendOnly] = (await node.call("CONFIG", "GET", "appendonly")) as string[];
  if (appendOnly !== "yes") {
    throw new StoreError(
      StoreErrorCodes.INVALID_ARGUMENT,
      "durability.fsync needs `appendonly yes` on Redis",
    );
  }
}

/**
 * Waits once on every primary that holds one of `statsKeys` (one stats key per written bucket).
 * Resolves when each reached the target; otherwise throws a retryable STORE_UNAVAILABLE that says how
 * far it got.
 */
export async function awaitDurable(
  client: RedisClient,
  statsKeys: readonly string[],
  options: DurabilityOptions,
): Promise<void> {
  const markerKeys = onePerPrimary(client, statsKeys);
  const commands: BatchCommand[] = markerKeys.flatMap((key) => [
    { key, queue: (pipeline) => pipeline.hset(key, "durableAtMs", Date.now()) },
    {
      key,
      queue: (pipeline) =>
        options.fsync
          ? pipeline.call("WAITAOF", 1, options.replicas, options.timeoutMs)
          : pipeline.call("WAIT", options.replicas, options.timeoutMs),
    },
  ]);
  const results = await execBatch(client, commands);
  for (let index = 1; index < results.length; index += 2) {
    const result = results[index]!;
    const marker = results[index - 1]!;
    const failure = marker.error ?? result.error;
    if (failure !== null) throw failure;
    const [local, replicas] = options.fsync ? (result.value as number[]) : [1, result.value as number];
    if ((local ?? 0) < 1 || (replicas ?? 0) < options.replicas) {
      throw new StoreError(
        StoreErrorCodes.STORE_UNAVAILABLE,
        `durability not reached within ${options.timeoutMs} ms: ${replicas} of ${options.replicas} replicas` +
          (options.fsync ? `, local fsync ${local === 1 ? "done" : "pending"}` : ""),
      );
    }
  }
}

/** One of the keys per primary (standalone: just one), so each primary is waited on once. */
function onePerPrimary(client: RedisClient, keys: readonly string[]): string[] {
  if (keys.length === 0) return [];
  if (!isCluster(client)) return [keys[0]!];
  const byPrimary = new Map<string, string>();
  for (const key of keys) {
    const primary = (client as Cluster).slots[keySlot(key)]?.[0] ?? `slot:${keySlot(key)}`;
    if (!byPrimary.has(primary)) byPrimary.set(primary, key);
  }
  return [...byPrimary.values()];
}

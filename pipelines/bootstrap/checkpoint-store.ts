/**
 * Where shard checkpoints live and how they are written. Key: `{<P>:bootstrap:<namespace>/<run>}:<index>`
 * in the store's Redis. The hash tag puts every shard of one run in one Cluster slot, so the operator
 * reads a run's progress with one pipelined round trip to one node, while different runs spread over
 * the cluster and none of them adds load to the store's control slot `{P}`.
 *
 * Each start of a shard takes a new `attempt` number; a save succeeds only while the stored attempt is
 * still its own, so a stale pod (e.g. one the Job replaced during a network partition) fails instead of
 * overwriting the progress of its successor. Every save refreshes the key's expiry, so checkpoints of
 * abandoned runs disappear without a sweeper.
 */
import type { RedisClient } from "../../store/index.ts";
import { decodeCheckpoint, encodeCheckpoint, type CheckpointState } from "./checkpoint-codec.ts";
import { PipelineError, PipelineErrorCodes } from "../shared/errors.ts";

// ARGV: expected attempt ('' = no checkpoint yet), ttl seconds, '1' to replace the hash, field/value...
const saveLua = `
local current = redis.call('HGET', KEYS[1], 'attempt') or ''
if current ~= ARGV[1] then return 'conflict:' .. current end
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 'ok'
`;
/** The checkpoint key of one shard. */
export function checkpointKey(
  prefix: string,
  run: { namespace: string; name: string },
  index: number,
): string {
  return `{${prefix}:bootstrap:${run.namespace}/${run.name}}:${index}`;
}

/** Reads and writes one shard's checkpoint. */
export class CheckpointStore {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #ttlSeconds: number;

  constructor(client: RedisClient, key: string, ttlSeconds: number) {
    this.#client = client;
    this.#key = key;
    this.#ttlSeconds = ttlSeconds;
  }

  get key(): string {
    return this.#key;
  }

  /** The stored checkpoint, or null. */
  async load(): Promise<CheckpointState | null> {
    return decodeCheckpoint(await this.#client.hgetall(this.#key));
  }

  /**
   * Starts a new attempt: returns the checkpoint to resume from (with its new attempt number), or a
   * fresh one when there is none or it belongs to different work (another fingerprint: the run was
   * recreated with another version, source or shard count under the same name).
   */
  async begin(
    fingerprint: string,
    fresh: () => CheckpointState,
  ): Promise<{ state: CheckpointState; resumed: boolean }> {
    const stored = await this.load();
    const resumed = stored !== null && stored.fingerprint === fingerprint;
    const base = resumed ? stored : fresh();
    // The attempt number keeps growing even across a reset, so pods of the old work are fenced off too.
    const attempt = (stored?.attempt ?? 0) + 1;
    const state: CheckpointState = { ...base, attempt, updatedAtMs: Date.now(), error: undefined };
    if (state.phase !== "done") state.phase = "running";
    await this.#write(state, stored === null ? "" : String(stored.attempt), stored !== null && !resumed);
    return { state, resumed };
  }

  /** Writes the whole checkpoint; throws when a newer attempt of this shard has taken over. */
  async save(state: CheckpointState): Promise<void> {
    await this.#write(state, String(state.attempt), false);
  }

  async #write(state: CheckpointState, expectedAttempt: string, replace: boolean): Promise<void> {
    const fields = Object.entries(encodeCheckpoint(state)).flat();
    const reply = await this.#client.eval(
      saveLua,
      1,
      this.#key,
      expectedAttempt,
      this.#ttlSeconds,
      replace ? "1" : "0",
      ...fields,
    );
    if (reply !== "ok") {
      const holder = String(reply).replace(/^conflict:/, "") || "none";
      throw new PipelineError(
        PipelineErrorCodes.CHECKPOINT_CONFLICT,
        `checkpoint ${this.#key} is at attempt ${holder}, expected ${expectedAttempt || "none"}: another pod runs this shard`,
      );
    }
  }
}

/** Reads the checkpoints of every shard of a run (for the operator): index -> state or null. */
export async function readRunCheckpoints(
  client: RedisClient,
  prefix: string,
  run: { namespace: string; name: string },
  shards: number,
): Promise<(CheckpointState | null)[]> {
  const keys = Array.from({ length: shards }, (_, index) => checkpointKey(prefix, run, index));
  // One slot, so one pipeline works on Cluster too.
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.hgetall(key);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, fields]) => {
    if (error) throw error;
    return decodeCheckpoint(fields as Record<string, string>);
  });
}

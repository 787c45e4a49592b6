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

// KEYS: the checkpoint, its pending counts. ARGV: expected attempt ('' = no checkpoint yet), ttl
// seconds, '1' to replace the hash, what to do with the pending counts ('absorb': add them to the
// checkpoint's counts and clear them; 'drop': clear them, they belong to other work), the kept counts
// (comma-separated), field/value...
// A kept count (a PendingCount) is the store's, not the writer's: the script writes the writer's value
// only into a new or replaced hash and otherwise only adds the pending counts to it, so a save retried
// after its reply was lost (it landed and absorbed them) writes nothing over what it absorbed.
// Replies {'ok', count, total, ...} with each kept count as stored now, or 'conflict:<attempt>'.
const saveLua = `
local current = redis.call('HGET', KEYS[1], 'attempt') or ''
if current ~= ARGV[1] then return 'conflict:' .. current end
local kept, names = {}, {}
for name in string.gmatch(ARGV[5], '[^,]+') do
  kept[name] = true
  names[#names + 1] = name
end
local new = ARGV[1] == '' or ARGV[3] == '1'
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
local fields = {}
for i = 6, #ARGV, 2 do
  if new or not kept[ARGV[i]] then
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[4] == 'absorb' then
  local pending = redis.call('HGETALL', KEYS[2])
  for i = 1, #pending, 2 do
    redis.call('HINCRBY', KEYS[1], pending[i], pending[i + 1])
  end
end
redis.call('DEL', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local reply = {'ok'}
for _, name in ipairs(names) do
  reply[#reply + 1] = name
  reply[#reply + 1] = redis.call('HGET', KEYS[1], name) or '0'
end
return reply
`;

/**
 * Counts a shard adds the moment the work happens rather than with its batch's checkpoint, because a
 * rerun of the batch would not count that work again: the texts it embedded (a rerun finds them in
 * the text cache). They wait in a small hash beside the checkpoint, which the next checkpoint write
 * absorbs into its counts in the same atomic step, so work is counted once however the shard dies.
 * Such a count is the store's: a checkpoint write only adds to it (or sets it when it starts the hash
 * anew), never overwrites it with the writer's figure, so a write retried after its reply was lost
 * keeps what the one that landed absorbed; the reply carries the stored total back into the state.
 */
export type PendingCount = "embedded";

/** Every PendingCount: counts the checkpoint writes only add to (see saveLua). */
const keptCounts = Object.keys({ embedded: true } satisfies Record<PendingCount, true>) as PendingCount[];

/** The checkpoint key of one shard. */
export function checkpointKey(
  prefix: string,
  run: { namespace: string; name: string },
  index: number,
): string {
  return `{${prefix}:bootstrap:${run.namespace}/${run.name}}:${index}`;
}

/** Where a checkpoint's pending counts wait: beside it, in its Cluster slot (same hash tag). */
const pendingKeyOf = (checkpoint: string): string => `${checkpoint}:pending`;

/** Reads and writes one shard's checkpoint. */
export class CheckpointStore {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #ttlSeconds: number;
  /** A begin whose write failed (it may have landed, its reply lost): what it wrote and reported. */
  #unanswered: { attempt: number; updatedAtMs: number; resumed: boolean } | undefined;

  constructor(client: RedisClient, key: string, ttlSeconds: number) {
    this.#client = client;
    this.#key = key;
    this.#ttlSeconds = ttlSeconds;
  }

  get key(): string {
    return this.#key;
  }

  /** Where pending counts wait: beside the checkpoint, in its Cluster slot (same hash tag). */
  get pendingKey(): string {
    return pendingKeyOf(this.#key);
  }

  /**
   * Adds to a pending count (see PendingCount); the next checkpoint write absorbs it. Not fenced: the
   * work of a stale pod of this shard was done too.
   */
  async addPending(count: PendingCount, amount: number): Promise<void> {
    if (amount === 0) return;
    await this.#client
      .multi()
      .hincrby(this.pendingKey, count, amount)
      .expire(this.pendingKey, this.#ttlSeconds)
      .exec();
  }

  /** The stored checkpoint, or null. */
  async load(): Promise<CheckpointState | null> {
    return decodeCheckpoint(await this.#client.hgetall(this.#key));
  }

  /**
   * Starts a new attempt: returns the checkpoint to resume from (with its new attempt number), or a
   * fresh one when there is none or it belongs to different work (another fingerprint: the run was
   * created again under the same name, so another uid, or with another version, source or shard count).
   */
  async begin(
    fingerprint: string,
    fresh: () => CheckpointState,
  ): Promise<{ state: CheckpointState; resumed: boolean }> {
    const stored = await this.load();
    const resumed = stored !== null && stored.fingerprint === fingerprint;
    // Retried after a begin whose reply was lost: when that begin landed (the stored checkpoint is
    // exactly what it wrote), this one resumes only that write, and reports the start it was. It still
    // takes an attempt number of its own: the stored one could also be another pod's same number.
    const unanswered = this.#unanswered;
    this.#unanswered = undefined;
    const ownLanded =
      resumed &&
      unanswered !== undefined &&
      stored.attempt === unanswered.attempt &&
      stored.updatedAtMs === unanswered.updatedAtMs;
    const reported = ownLanded ? unanswered.resumed : resumed;
    const base = resumed ? stored : fresh();
    // The attempt number keeps growing even across a reset, so pods of the old work are fenced off too.
    const attempt = (stored?.attempt ?? 0) + 1;
    const state: CheckpointState = {
      ...base,
      counts: { ...base.counts },
      attempt,
      updatedAtMs: Date.now(),
      error: undefined,
    };
    if (state.phase !== "done") state.phase = "running";
    this.#unanswered = { attempt, updatedAtMs: state.updatedAtMs, resumed: reported };
    // Resumed: what the previous attempt did after its last checkpoint is absorbed now; otherwise the
    // pending counts belong to other work (or to a checkpoint that expired) and are dropped.
    await this.#write(
      state,
      stored === null ? "" : String(stored.attempt),
      stored !== null && !resumed,
      resumed,
    );
    this.#unanswered = undefined;
    return { state, resumed: reported };
  }

  /**
   * Writes the checkpoint and absorbs the pending counts into it; sets `state.counts` of those counts
   * to their stored totals. Idempotent: a save retried after its reply was lost keeps the counts the
   * one that landed absorbed. Throws when a newer attempt of this shard has taken over.
   */
  async save(state: CheckpointState): Promise<void> {
    await this.#write(state, String(state.attempt), false, true);
  }

  async #write(
    state: CheckpointState,
    expectedAttempt: string,
    replace: boolean,
    absorb: boolean,
  ): Promise<void> {
    const fields = Object.entries(encodeCheckpoint(state)).flat();
    const reply = (await this.#client.eval(
      saveLua,
      2,
      this.#key,
      this.pendingKey,
      expectedAttempt,
      this.#ttlSeconds,
      replace ? "1" : "0",
      absorb ? "absorb" : "drop",
      keptCounts.join(","),
      ...fields,
    )) as unknown;
    if (Array.isArray(reply) && reply[0] === "ok") {
      for (let index = 1; index < reply.length; index += 2) {
        const name = String(reply[index]) as keyof CheckpointState["counts"];
        if (name in state.counts) state.counts[name] = Number(reply[index + 1]);
      }
      return;
    }
    const holder = String(reply).replace(/^conflict:/, "") || "none";
    throw new PipelineError(
      PipelineErrorCodes.CHECKPOINT_CONFLICT,
      `checkpoint ${this.#key} is at attempt ${holder}, expected ${expectedAttempt || "none"}: another pod runs this shard`,
    );
  }
}

/**
 * Deletes the checkpoints of every shard of a run (for the operator, when it deletes a run whose
 * version's vectors go too): a later run of the same name and work would otherwise resume them and
 * skip what it must write again. A pod of the deleted run still saving finds its attempt gone and stops.
 */
export async function deleteRunCheckpoints(
  client: RedisClient,
  prefix: string,
  run: { namespace: string; name: string },
  shards: number,
): Promise<void> {
  // With each shard's pending counts (CheckpointStore.pendingKey), which would otherwise wait for
  // their expiry. One slot (the hash tag), so one command works on Cluster too.
  const keys = Array.from({ length: shards }, (_, index) => checkpointKey(prefix, run, index)).flatMap(
    (key) => [key, pendingKeyOf(key)],
  );
  if (keys.length > 0) await client.del(...keys);
}

/**
 * Reads the checkpoints of every shard of a run (for the operator and the last shard): index -> state
 * or null. With the run's uid, a checkpoint another run of this name left (deleted and created again
 * before it expired) reads as null, as a shard that has not started: its progress and its `done` are
 * not this run's.
 */
export async function readRunCheckpoints(
  client: RedisClient,
  prefix: string,
  run: { namespace: string; name: string; uid?: string | undefined },
  shards: number,
): Promise<(CheckpointState | null)[]> {
  const keys = Array.from({ length: shards }, (_, index) => checkpointKey(prefix, run, index));
  // One slot, so one pipeline works on Cluster too.
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.hgetall(key);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, fields]) => {
    if (error) throw error;
    const state = decodeCheckpoint(fields as Record<string, string>);
    return ofAnotherRun(state, run.uid) ? null : state;
  });
}

/** Whether a checkpoint names a run uid other than `uid` (one without either cannot tell). */
function ofAnotherRun(state: CheckpointState | null, uid: string | undefined): boolean {
  return state?.runUid !== undefined && uid !== undefined && state.runUid !== uid;
}

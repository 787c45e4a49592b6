/**
 * Lua scripts that run in a bucket slot: every key they touch shares the bucket's hash tag, so each
 * script is atomic on Redis Cluster as well as on a standalone server. Scripts, not read-then-write,
 * because two writers racing on one record must never both "win" (DESIGN.md section 5).
 */

/**
 * Conditional write of one record (upsert, delete, or advance).
 * KEYS: meta hash, data hash, stats hash of (version, bucket).
 * ARGV: field, op (`L` upsert / `D` delete / `A` advance), eventTimeMs, offset, encoded meta (its
 * partition is the incoming partition), payload (upserts) or content hash (advances).
 * Order (store/ordering.ts): event time, then partition, then offset; the offset only breaks ties
 * within one partition, where Kafka orders records.
 * Returns 0 stale (stored position >= incoming; for an advance also: the record is not live with that
 * content hash), 1 created, 2 updated, 3 deleted (live -> tombstone), 4 tombstoned (absent or
 * tombstone -> newer tombstone), 5 advanced.
 *
 * An advance is a newer event whose text equals the stored one (change detection skipped its
 * inference): only the metadata moves to its position, so a late event older than it still loses.
 *
 * Deletes keep the metadata as a tombstone (flag D) so an older upsert replayed later still compares
 * against the delete's position and loses. Counters change only on live/tombstone transitions, which
 * keeps them exact under retries: a retried write has an equal position and returns 0 untouched.
 */
export const writeRecordLua = `
local field = ARGV[1]
local upsert = ARGV[2] == 'L'
local eventTime = tonumber(ARGV[3])
local offset = tonumber(ARGV[4])
local partition = tonumber(string.match(ARGV[5], '^[LD]|%d+|%d+|(%-?%d+)|'))
local stored = redis.call('HGET', KEYS[1], field)
local wasLive = false
local wasTombstone = false
if stored then
  local flag, storedTime, storedOffset, storedPartition = string.match(stored, '^([LD])|(%d+)|(%d+)|(%-?%d+)|')
  if not flag then
    return redis.error_reply('JUDE_CORRUPT record metadata of ' .. field .. ' is malformed')
  end
  storedTime = tonumber(storedTime)
  storedOffset = tonumber(storedOffset)
  storedPartition = tonumber(storedPartition)
  if eventTime ~= storedTime then
    if eventTime < storedTime then return 0 end
  elseif partition ~= storedPartition then
    if partition < storedPartition then return 0 end
  elseif offset <= storedOffset then
    return 0
  end
  wasLive = flag == 'L'
  wasTombstone = flag == 'D'
end
if ARGV[2] == 'A' then
  if not wasLive or string.sub(stored, -string.len(ARGV[6]) - 1) ~= '|' .. ARGV[6] then return 0 end
  redis.call('HSET', KEYS[1], field, ARGV[5])
  return 5
end
redis.call('HSET', KEYS[1], field, ARGV[5])
if upsert then
  redis.call('HSET', KEYS[2], field, ARGV[6])
  if wasLive then return 2 end
  redis.call('HINCRBY', KEYS[3], 'live', 1)
  if wasTombstone then redis.call('HINCRBY', KEYS[3], 'tombstones', -1) end
  return 1
end
redis.call('HDEL', KEYS[2], field)
if wasTombstone then return 4 end
redis.call('HINCRBY', KEYS[3], 'tombstones', 1)
if wasLive then
  redis.call('HINCRBY', KEYS[3], 'live', -1)
  return 3
end
return 4
`;

/**
 * Claim a text hash for embedding, so that bootstrap shards embed each distinct text once per version.
 * KEYS: texts hash, claims hash of (version, bucket). ARGV: text hash, owner, lease ms.
 * Returns {'ready', payload} when the vector is already cached, {'claimed'} when this owner may embed
 * it (no claim, an expired claim, or its own claim, which is renewed), {'pending', expiresAtMs} when
 * another owner holds a live lease. The lease uses the server clock so shard clocks never disagree.
 */
export const claimTextLua = `
local payload = redis.call('HGET', KEYS[1], ARGV[1])
if payload then return {'ready', payload} end
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local claim = redis.call('HGET', KEYS[2], ARGV[1])
if claim then
  local owner, expires = string.match(claim, '^(.*)|(%d+)$')
  if owner ~= ARGV[2] and expires and tonumber(expires) > nowMs then
    return {'pending', expires}
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. tostring(nowMs + tonumber(ARGV[3])))
return {'claimed'}
`;

/**
 * Store the vector of a text hash (first writer wins: identical text gives an identical vector) and
 * drop any claim on it. KEYS: texts, claims, stats hash. ARGV: text hash, payload.
 * Returns 1 when stored, 0 when it was already there.
 */
export const putTextLua = `
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'texts', 1)
  return 1
end
return 0
`;

/**
 * Give up a claim without storing a vector (embedding failed), so another shard may take it at once.
 * KEYS: claims hash. ARGV: text hash, owner. Returns 1 when released, 0 when not held by owner.
 */
export const releaseTextClaimLua = `
local claim = redis.call('HGET', KEYS[1], ARGV[1])
if claim and string.match(claim, '^(.*)|%d+$') == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`;

/**
 * Records a pipeline's source offset (source-offsets.ts): KEYS[1] the version's offsets hash, ARGV[1]
 * the field `<group>:<topic>:<topicId>:<partition>`, ARGV[2] the offset, ARGV[3] the offset the
 * writer expects stored (its last recorded one; '' when it knows none). Sets the field when it holds
 * ARGV[3] up to ARGV[2] (ARGV[2] itself: a resend after a lost reply; between them: another writer, the
 * partition's previous owner finishing its last batch, recorded an offset this one's writes also
 * cover), or when ARGV[3] is ''. Otherwise leaves it: the store went back (restored, wiped: none or
 * below ARGV[3]) or another writer is past ARGV[2]. Returns {1} when set, {0, stored or ''} when not.
 */
export const recordSourceOffsetLua = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and stored ~= ARGV[3] and stored ~= ARGV[2] then
  local at = tonumber(stored)
  if not at or at < tonumber(ARGV[3]) or at > tonumber(ARGV[2]) then
    return {0, stored or ''}
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1}
`;

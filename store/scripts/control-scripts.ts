/**
 * Lua scripts on the control slot `{P}`: store metadata, the version registry and the current/backup
 * pointer. All three keys share one hash tag, so a flip can check "current is still A" and "B is
 * complete" and switch the pointer in one atomic step, and garbage collection can check "not current,
 * not backup" and mark a version as deleting in the same step (no flip can target it afterwards).
 *
 * Replies are arrays whose first element is a status (`ok`, `noop`, `done`, or a StoreError code),
 * so the TypeScript side maps them to errors without parsing messages.
 */

/** Version registry entries are JSON objects; `now()` is the server clock in ms. */
const prelude = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * `hsetWhenFull(key, field, value, ...)`: HSET that also works on a Redis at its maxmemory with
 * noeviction. Such a server refuses a script whose first write may grow memory (HSET), but not one
 * that frees memory (HDEL), and lets a script that has written run to its end. A rollback and the
 * collection of an old version (what frees the memory that writers wait for) must work on a full
 * Redis, so their scripts delete the first field before setting it again, atomically.
 */
const hsetWhenFull = `
local function hsetWhenFull(key, ...)
  redis.call('HDEL', key, (...))
  redis.call('HSET', key, ...)
end
`;

/**
 * Create the store metadata if absent; return what is stored.
 * KEYS: meta. ARGV: layout version, bucket count. Returns {layout, buckets}.
 */
export const initMetaLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'layout', ARGV[1], 'buckets', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'layout', 'buckets')
`;

/**
 * Register a version in state `building` (idempotent for the same model digest, vector settings and
 * prompt templates). KEYS: versions. ARGV: version, model digest, dtype, dimension, optionally a JSON
 * object of prompt template digests per entity (the entities this writer embeds), and optionally a
 * JSON object of vector settings by name (store/versions.ts VectorSettings; '' when the writer was not
 * told them). A digest differing from the one recorded for an entity, or a setting differing from the
 * one recorded under its name, is refused like another model digest; an entity or setting not
 * recorded yet is added, also to an entry a writer of an older release registered without any: as for
 * an entity a newer writer is the first to register, it is recorded from then on (writers of one
 * version share its spec, so older ones still running embed with the same template and settings).
 * Nothing is written when anything is refused.
 */
export const registerVersionLua = `${prelude}
local prompts = nil
if ARGV[5] and ARGV[5] ~= '' then
  prompts = cjson.decode(ARGV[5])
  if next(prompts) == nil then prompts = nil end
end
local settings = nil
if ARGV[6] and ARGV[6] ~= '' then
  settings = cjson.decode(ARGV[6])
  if next(settings) == nil then settings = nil end
end
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local info = cjson.decode(existing)
  if info.modelDigest ~= ARGV[2] or info.state == 'deleting' then
    return {'PRECONDITION_FAILED', existing}
  end
  local added = false
  if settings ~= nil then
    if type(info.vectorSettings) ~= 'table' then info.vectorSettings = {} end
    for name, value in pairs(settings) do
      local recorded = info.vectorSettings[name]
      if recorded == nil then
        info.vectorSettings[name] = value
        added = true
      elseif recorded ~= value then
        return {'PRECONDITION_FAILED', existing}
      end
    end
  end
  if prompts ~= nil then
    if type(info.prompts) ~= 'table' then info.prompts = {} end
    for entity, digest in pairs(prompts) do
      local recorded = info.prompts[entity]
      if recorded == nil then
        info.prompts[entity] = digest
        added = true
      elseif recorded ~= digest then
        return {'PRECONDITION_FAILED', existing}
      end
    end
  end
  if not added then return {'ok', existing} end
  local encoded = cjson.encode(info)
  redis.call('HSET', KEYS[1], ARGV[1], encoded)
  return {'ok', encoded}
end
local entry = {version = ARGV[1], state = 'building', modelDigest = ARGV[2],
  dtype = ARGV[3], dimension = tonumber(ARGV[4]), createdAtMs = now()}
if prompts ~= nil then entry.prompts = prompts end
if settings ~= nil then entry.vectorSettings = settings end
local encoded = cjson.encode(entry)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
`;

/**
 * Mark a version complete (its bootstrap finished). KEYS: versions. ARGV: version. Only a building
 * one: a deleting one, or one in a state a newer release wrote, is left as it is (PRECONDITION_FAILED).
 */
export const markCompleteLua = `${prelude}
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if not existing then return {'VERSION_NOT_FOUND'} end
local info = cjson.decode(existing)
if info.state == 'complete' then return {'ok', existing} end
if info.state ~= 'building' then return {'PRECONDITION_FAILED', existing} end
info.state = 'complete'
info.completedAtMs = now()
local encoded = cjson.encode(info)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
`;

/**
 * Flip the pointer to a target version. KEYS: pointer, versions.
 * ARGV: expected current ('' for none), target, notification channel, kind (flip|rollback), and
 * optionally the least epoch to write (the new epoch is max(epoch + 1, it)).
 * Returns {'ok'|'noop', current, backup, epoch, flippedAtMs}; 'noop' when the same flip already
 * happened (a retry after a lost reply), so callers can retry blindly. Publishes on 'ok'. Expected =
 * target = current with an epoch below the least one writes the pointer again (backup kept).
 */
export const flipLua = `${prelude}${hsetWhenFull}
local current = redis.call('HGET', KEYS[1], 'current') or ''
local backup = redis.call('HGET', KEYS[1], 'backup') or ''
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local expected, target = ARGV[1], ARGV[2]
local least = tonumber(ARGV[5] or '0') or 0
-- A switch to the version current already, asked for with expected = target, writes the pointer
-- again when its epoch is below the least one (a store rewound below the epoch readers hold).
if current == target and (backup == expected or expected == target) and
    (expected ~= target or epoch >= least) then
  return {'noop', current, backup, string.format('%d', epoch), redis.call('HGET', KEYS[1], 'flipped_at_ms') or '0'}
end
if current ~= expected then return {'PRECONDITION_FAILED', current} end
local existing = redis.call('HGET', KEYS[2], target)
if not existing then return {'VERSION_NOT_FOUND'} end
local info = cjson.decode(existing)
if info.state ~= 'complete' then return {'VERSION_NOT_COMPLETE', info.state} end
epoch = math.max(epoch + 1, least)
-- In decimal: tostring (and ..) keep 14 digits, so 10^14 would become '1e+14', which readers refuse.
local epochText = string.format('%d', epoch)
-- Written again on the same version, the pointer keeps its backup.
local newBackup = current
if current == target then newBackup = backup end
local flippedAt = tostring(now())
hsetWhenFull(KEYS[1], 'current', target, 'backup', newBackup, 'epoch', epochText,
  'flipped_at_ms', flippedAt, 'kind', ARGV[4])
redis.call('PUBLISH', ARGV[3], '{"epoch":' .. epochText .. ',"current":"' .. target .. '","backup":"' ..
  newBackup .. '","kind":"' .. ARGV[4] .. '"}')
return {'ok', target, newBackup, epochText, flippedAt}
`;

/**
 * Start deleting a version: refused while it is current or backup, and for a state a newer release
 * wrote (left as it is, PRECONDITION_FAILED). KEYS: pointer, versions.
 * ARGV: version. Returns {'ok', info} with gcNextBucket set (kept when already deleting).
 */
export const markDeletingLua = `${hsetWhenFull}
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if not existing then return {'VERSION_NOT_FOUND'} end
local pointer = redis.call('HMGET', KEYS[1], 'current', 'backup')
if pointer[1] == ARGV[1] then return {'PRECONDITION_FAILED', 'current'} end
if pointer[2] == ARGV[1] then return {'PRECONDITION_FAILED', 'backup'} end
local info = cjson.decode(existing)
if info.state == 'deleting' then return {'ok', existing} end
if info.state ~= 'building' and info.state ~= 'complete' then return {'PRECONDITION_FAILED', info.state} end
info.state = 'deleting'
info.gcNextBucket = 0
local encoded = cjson.encode(info)
hsetWhenFull(KEYS[2], ARGV[1], encoded)
return {'ok', encoded}
`;

/**
 * Record GC progress of a deleting version; forget the version once every bucket is gone.
 * KEYS: versions. ARGV: version, next bucket, bucket count. Returns {'ok', info} or {'done'}.
 */
export const advanceGcLua = `${hsetWhenFull}
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if not existing then return {'VERSION_NOT_FOUND'} end
local info = cjson.decode(existing)
if info.state ~= 'deleting' then return {'PRECONDITION_FAILED', info.state} end
local nextBucket = tonumber(ARGV[2])
if nextBucket >= tonumber(ARGV[3]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'done'}
end
if nextBucket > (info.gcNextBucket or 0) then info.gcNextBucket = nextBucket end
local encoded = cjson.encode(info)
hsetWhenFull(KEYS[1], ARGV[1], encoded)
return {'ok', encoded}
`;

/**
 * Claim the store for an owner (see owner.ts). KEYS: owner. ARGV: namespace, name, uid, the uid of a
 * stale owner this claim may replace ('' for none). The claim succeeds when nobody owns the store,
 * when the claimant already does, or when the holder is exactly that stale uid, so two claimants
 * racing to replace one stale owner cannot both win. Returns {'ok', 'claimed'|'held', namespace,
 * name, uid, claimedAtMs} naming the owner after the call.
 */
export const claimOwnerLua = `${prelude}
local held = redis.call('HGET', KEYS[1], 'uid')
if (not held) or held == ARGV[3] or (ARGV[4] ~= '' and held == ARGV[4]) then
  if held ~= ARGV[3] then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'namespace', ARGV[1], 'name', ARGV[2], 'uid', ARGV[3],
      'claimed_at_ms', tostring(now()))
  end
  local owner = redis.call('HMGET', KEYS[1], 'namespace', 'name', 'uid', 'claimed_at_ms')
  return {'ok', 'claimed', owner[1] or '', owner[2] or '', owner[3] or '', owner[4] or ''}
end
local owner = redis.call('HMGET', KEYS[1], 'namespace', 'name', 'uid', 'claimed_at_ms')
return {'ok', 'held', owner[1] or '', owner[2] or '', owner[3] or '', owner[4] or ''}
`;

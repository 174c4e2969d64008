"""The two Lua scripts that write the article log: each runs atomically in Redis.

Every key they touch is declared and carries the `{articles}` hash tag, so
each script is a single-slot operation (Redis Cluster safe).

`ACCEPT` appends one change (or holds it for its embargo): it re-checks what
Python decided from its earlier read (idempotency record, content hash,
version and last appended version) and writes the event, the state, the
history entry and the idempotency record together, or answers why not.

`RELEASE` releases one embargoed change whose time has come (by Redis's own
clock): removing it from the schedule and appending its event happen in one
step, so of two ingest replicas racing for it exactly one appends.
"""

ACCEPT = """
-- KEYS: 1 state, 2 history, 3 stream, 4 idempotency record, 5 embargo schedule, 6 embargo pending
-- ARGV: 1 the change (JSON: what Python read and decided, and the event's routing fields),
--       2 answer json, 3 history json, 4 pending json ('' unless held), 5 the event json
-- (Few, large arguments: packing many small ones costs the client more than the JSON does.)
local c = cjson.decode(ARGV[1])
if c.ttl > 0 then
  local seen = redis.call('HMGET', KEYS[4], 'hash', 'answer')
  if seen[1] then
    if seen[1] == c.hash then return {'replay', seen[2]} end
    return {'idempotency_mismatch', ''}
  end
end
local current = redis.call('HMGET', KEYS[1], 'version', 'hash', 'answer', 'appended')
if current[2] and current[2] == c.hash then return {'replay', current[3]} end
local version = tonumber(current[1] or '0')
local appended = tonumber(current[4] or '0')
if version ~= c.expected_version or appended ~= c.expected_appended then
  return {'moved', tostring(version)}
end
local entry = ''
if c.release_ms == '0' then
  -- the stream entry's fields, as khabar_shared.events.encode_event writes them
  entry = redis.call('XADD', KEYS[3], '*', 'type', c.type, 'event_id', c.event_id,
                     'article_id', c.article_id, 'version', c.version,
                     'correlation_id', c.correlation_id, 'data', ARGV[5])
  redis.call('ZREM', KEYS[5], c.article_id)
  redis.call('HDEL', KEYS[6], c.article_id)
  appended = version + 1
else
  redis.call('ZADD', KEYS[5], c.release_ms, c.article_id)
  redis.call('HSET', KEYS[6], c.article_id, ARGV[4])
end
redis.call('HSET', KEYS[1], 'version', version + 1, 'hash', c.hash, 'status', c.status,
           'answer', ARGV[2], 'event', ARGV[5], 'updated_at', c.updated_at,
           'embargoed_until', c.embargoed_until, 'appended', appended)
redis.call('RPUSH', KEYS[2], ARGV[3])
if c.ttl > 0 then
  redis.call('HSET', KEYS[4], 'hash', c.hash, 'answer', ARGV[2])
  redis.call('EXPIRE', KEYS[4], c.ttl)
end
return {'accepted', entry}
"""

RELEASE = """
-- KEYS: 1 embargo schedule, 2 embargo pending, 3 stream, 4 state, 5 history
-- ARGV: 1 article id
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due then return false end
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if tonumber(due) > now_ms then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
local raw = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if not raw then return false end
local pending = cjson.decode(raw)
local entry = redis.call('XADD', KEYS[3], '*', unpack(pending.fields))
redis.call('HSET', KEYS[4], 'status', pending.status, 'appended', pending.version,
           'embargoed_until', '')
pending.history.accepted_at = now_ms
redis.call('RPUSH', KEYS[5], cjson.encode(pending.history))
return entry
"""

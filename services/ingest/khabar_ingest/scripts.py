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
-- ARGV: 1 expected version, 2 expected appended version, 3 content hash,
--       4 use idempotency ('1'/'0'), 5 idempotency ttl (s), 6 mode ('append'/'hold'),
--       7 release at (ms), 8 article id, 9 answer json, 10 status, 11 article json,
--       12 history json, 13 pending json, 14 updated at, 15 embargoed until,
--       16.. event fields (name, value, ...)
if ARGV[4] == '1' then
  local seen = redis.call('HMGET', KEYS[4], 'hash', 'answer')
  if seen[1] then
    if seen[1] == ARGV[3] then return {'replay', seen[2]} end
    return {'idempotency_mismatch', ''}
  end
end
local current = redis.call('HMGET', KEYS[1], 'version', 'hash', 'answer', 'appended')
if current[2] and current[2] == ARGV[3] then return {'replay', current[3]} end
local version = tonumber(current[1] or '0')
local appended = tonumber(current[4] or '0')
if version ~= tonumber(ARGV[1]) or appended ~= tonumber(ARGV[2]) then
  return {'moved', tostring(version)}
end
local entry = ''
if ARGV[6] == 'append' then
  local fields = {}
  for i = 16, #ARGV do fields[#fields + 1] = ARGV[i] end
  entry = redis.call('XADD', KEYS[3], '*', unpack(fields))
  redis.call('ZREM', KEYS[5], ARGV[8])
  redis.call('HDEL', KEYS[6], ARGV[8])
  redis.call('HSET', KEYS[1], 'appended', version + 1)
else
  redis.call('ZADD', KEYS[5], ARGV[7], ARGV[8])
  redis.call('HSET', KEYS[6], ARGV[8], ARGV[13])
  redis.call('HSET', KEYS[1], 'appended', appended)
end
redis.call('HSET', KEYS[1], 'version', version + 1, 'hash', ARGV[3], 'status', ARGV[10],
           'answer', ARGV[9], 'article', ARGV[11], 'updated_at', ARGV[14],
           'embargoed_until', ARGV[15])
redis.call('RPUSH', KEYS[2], ARGV[12])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[4], 'hash', ARGV[3], 'answer', ARGV[9])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
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

-- KEYS: 1 embargo schedule, 2 embargo pending, 3 stream, 4 state, 5 history
-- ARGV: 1 article id, 2 its waiting change as ingest read it ('' for none), 3 and 4 the
--       release's history entry before and after its time (store.released_history)
-- Returns the event's stream id; false when nothing is due; 'replaced' when the waiting
-- change is no longer the one ingest drafted the history entry from (ingest reads it again).
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due then return false end
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if tonumber(due) > now_ms then return false end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if raw and raw ~= ARGV[2] then return 'replaced' end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if not raw then return false end
local pending = cjson.decode(raw)
local entry = redis.call('XADD', KEYS[3], '*', unpack(pending.fields))
redis.call('HSET', KEYS[4], 'status', pending.status, 'appended', pending.version,
           'embargoed_until', '', 'entry', entry, 'event', '')
redis.call('RPUSH', KEYS[5], ARGV[3] .. now_ms .. ARGV[4])
return entry

-- Drop the copies of articles published before the window, in one step.
-- KEYS: the recent set. ARGV: the window's start, copy-key prefix, links-key prefix.
local stale = redis.call('ZRANGE', KEYS[1], ARGV[1], '-inf', 'BYSCORE', 'REV')
for _, id in ipairs(stale) do
  redis.call('DEL', ARGV[2] .. id, ARGV[3] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #stale

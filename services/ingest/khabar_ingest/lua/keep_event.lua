-- KEYS: 1 an article's state
-- ARGV: 1 a stream entry id about to be trimmed, 2 its event's JSON
-- Keeps the event in the state when it is the article's latest (what the state names):
-- the article can still be read and withdrawn once its entry is gone.
if redis.call('HGET', KEYS[1], 'entry') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'event', ARGV[2], 'entry', '')
return 1

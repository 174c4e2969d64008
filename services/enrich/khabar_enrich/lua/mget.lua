-- MGET as a script: redis-py refuses MGET in a cluster pipeline, and the index's keys
-- all share one slot (see `index.PREFIX`).
return redis.call('MGET', unpack(KEYS))

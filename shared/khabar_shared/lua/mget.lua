-- MGET as a script: redis-py refuses MGET in a cluster pipeline, and the keys a batch reads
-- all share one slot (enrich: see `index.PREFIX`).
return redis.call('MGET', unpack(KEYS))

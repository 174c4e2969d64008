-- An indexed doc gets its story once its candidates are known, after the batch's index
-- writes (see `khabar_shared/pipeline.py`): written, with a new revision, only while the doc
-- is still indexed (a later article of the batch may have withdrawn it).
-- KEYS: its doc, the revisions. ARGV: id, doc JSON, revision.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1

-- KEYS: 1 stream, 2 embargo schedule, 3 embargo pending, then for each change i (from 0)
--       4+3i state, 5+3i history, 6+3i idempotency record
-- ARGV: 1 the changes (a JSON list; each: content hash, idempotency ttl (0: none), base
--         version (-1: none), release_ms ('0': publish now), the event's own fields, marks:
--         where the event's type, version and corrections are, entry and entry_marks: the
--         stream entry's fields and where its type, version and data go, and correction: its
--         editor's note's JSON before and after its version, when it has one, and arg:
--         where its own arguments start),
--       then each change's own arguments: its event's JSON as the codec writes it for a first
--         version (khabar_shared.events.draft_article_event), then the records ingest drafted
--         as their models lay them out, cut where this script writes what Redis decides
--         (store.record_drafts): the answer (2 pieces), the history entry (3) and, for a held
--         change, its embargo record (6)
-- Redis's Lua hashes every byte of each string it makes: a first version's event is used as
-- sent (one 4 KB string per change, not two); a later version's gets its own type, version and
-- corrections written in where the codec marked them.
-- A change older than the stored version (its versioncreated_ms below the state's) changes
-- nothing unless it names the current version (If-Match / base_version): an agency's or a
-- retry's old copy must not revert an update or revive a withdrawal. Equal times go on.
-- Returns, for each change, {verdict, answer (a repeat's) or current version (a conflict's
--   or a stale copy's), stream id (a stale copy's: the stored versioncreated_ms), version}.
local function accept(c, state_key, history_key, idempotency_key)
  if c.ttl > 0 then
    local seen = redis.call('HMGET', idempotency_key, 'hash', 'answer')
    if seen[1] then
      if seen[1] == c.hash then return {'replay', seen[2], ''} end
      return {'idempotency_mismatch', '', ''}
    end
  end
  local current = redis.call('HMGET', state_key, 'version', 'hash', 'answer', 'appended', 'status',
    'corrections', 'versioncreated_ms')
  if current[2] == c.hash then return {'replay', current[3], ''} end
  local version = tonumber(current[1] or '0')
  local appended = tonumber(current[4] or '0')
  if c.base_version >= 0 and c.base_version ~= version then
    return {'conflict', tostring(version), ''}
  end
  -- (A state from before versioncreated_ms was kept has none: its next version sets it.)
  local stored_created = current[7]
  if c.base_version < 0 and c.newer_only and stored_created and stored_created ~= '' and
      tonumber(c.versioncreated_ms) < tonumber(stored_created) then
    return {'stale', tostring(version), stored_created}
  end

  version = version + 1
  -- Written out once: Redis formats each number passed to a command anew (printf).
  local version_text = tostring(version)
  local held = c.release_ms ~= '0'
  local kind = 'article.published'
  if c.pubstatus == 'canceled' then kind = 'article.withdrawn'
  elseif appended > 0 then kind = 'article.updated' end
  local status = c.pubstatus
  if held then status = 'embargoed' end

  -- Corrections: every editor's note so far rides on each later version's article, so a
  -- page shows them all whichever versions a reader's service saw (Article.corrections).
  local corrections = current[6]
  if c.correction then
    local note = c.correction[1] .. version_text .. c.correction[2]
    if corrections then
      corrections = string.sub(corrections, 1, -2) .. ',' .. note .. ']'
    else
      corrections = '[' .. note .. ']'
    end
  end
  local a = c.arg
  local first_event = ARGV[a]
  local data = first_event
  if version > 1 or corrections then
    local m = c.marks
    data = string.sub(first_event, 1, m[1] - 1) .. '"' .. kind .. '"' ..
      string.sub(first_event, m[2] + 1, m[3] - 1) .. version_text ..
      string.sub(first_event, m[4] + 1, m[5] - 1) .. (corrections or '[]') ..
      string.sub(first_event, m[6] + 1)
  end
  -- The stream entry's fields as the codec wrote them, with this version's values.
  local fields = c.entry
  fields[c.entry_marks[1]] = kind
  fields[c.entry_marks[2]] = version_text
  fields[c.entry_marks[3]] = data
  -- The records, as ingest drafted them, with this version (and type) written in.
  local answer = ARGV[a + 1] .. version_text .. ARGV[a + 2]
  local history = ARGV[a + 3] .. version_text .. ARGV[a + 4] .. '"' .. kind .. '"' .. ARGV[a + 5]

  local entry = ''
  if held then
    -- The event goes in as a JSON string: the one value this script escapes.
    redis.call('ZADD', KEYS[2], c.release_ms, c.article_id)
    redis.call('HSET', KEYS[3], c.article_id, ARGV[a + 6] .. '"' .. kind .. '"' .. ARGV[a + 7] ..
      '"' .. version_text .. '"' .. ARGV[a + 8] .. cjson.encode(data) .. ARGV[a + 9] ..
      version_text .. ARGV[a + 10] .. version_text .. ARGV[a + 11])
  else
    entry = redis.call('XADD', KEYS[1], '*', unpack(fields))
    -- A held change of this article waits (and is dropped) only while its state says
    -- 'embargoed': no two needless calls for every other change.
    if current[5] == 'embargoed' then
      redis.call('ZREM', KEYS[2], c.article_id)
      redis.call('HDEL', KEYS[3], c.article_id)
    end
    appended = version
  end
  local appended_text = appended == version and version_text or tostring(appended)
  -- The state names the latest event's stream entry (a held one waits in the embargo
  -- hash), rather than keeping a second copy of it: see store.py. 'event' holds a copy only
  -- once a trim removed that entry (or from before this layout); a new version clears it.
  redis.call('HSET', state_key, 'version', version_text, 'hash', c.hash, 'status', status,
    'answer', answer, 'entry', entry, 'event', '', 'updated_at', c.accepted_at,
    'embargoed_until', held and c.embargoed_until or '', 'appended', appended_text,
    'versioncreated_ms', c.versioncreated_ms)
  if c.correction then
    redis.call('HSET', state_key, 'corrections', corrections)
  end
  redis.call('RPUSH', history_key, history)
  if c.ttl > 0 then
    redis.call('HSET', idempotency_key, 'hash', c.hash, 'answer', answer)
    redis.call('EXPIRE', idempotency_key, c.ttl)
  end
  -- Ingest builds a new version's answer from what it sent: only the version comes back.
  return {'accepted', '', entry, version}
end

local changes = cjson.decode(ARGV[1])
local replies = {}
for i, c in ipairs(changes) do
  local k = 3 * i
  replies[i] = accept(c, KEYS[k + 1], KEYS[k + 2], KEYS[k + 3])
end
return replies

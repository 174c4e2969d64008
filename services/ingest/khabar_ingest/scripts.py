"""The Lua scripts that write the article log: each runs atomically in Redis.

Every key they touch is declared and carries the `{articles}` hash tag, so
each script is a single-slot operation (Redis Cluster safe).

`ACCEPT` takes a list of changes (one for a single POST, all the valid items
of a batch) and handles each in turn, as if each were its own script run:
from the article's state as it is at that moment it decides all that depends
on it: a repeat (same Idempotency-Key or same content: the first answer), a
stale If-Match (the current version), or the next version, whose event it
appends (or holds for its embargo) together with the state, the history entry
and the idempotency record. No read before it, and a batch is a few calls
of a few dozen changes each, sent one after another on one connection
without waiting for answers (see `store.py`): Redis's per-call cost paid
once per call, not per change.
Each change's writes are complete before the next change starts, and the
whole call runs without interruption, so no reader sees half a change.

`RELEASE` releases one embargoed change whose time has come (by Redis's own
clock): removing it from the schedule and appending its event happen in one
step, so of two ingest replicas racing for it exactly one appends. Its history
entry comes drafted by ingest (`store.released_history`): the script writes in
the time.

`KEEP_EVENT` moves an article's latest event into its state before `khabar
trim` removes the stream entry that holds it.

Their sources are the files in `lua/`, each saying what it takes and returns.
"""

from khabar_shared.lua import ScriptRegistry

SCRIPTS = ScriptRegistry("khabar_ingest")

ACCEPT = SCRIPTS["accept"]
RELEASE = SCRIPTS["release"]
KEEP_EVENT = SCRIPTS["keep_event"]

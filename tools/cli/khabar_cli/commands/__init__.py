"""The commands of `khabar`; importing this package registers them all on the app."""

from khabar_cli.commands import (  # noqa: F401
    aliases_cmd,
    dead_letters_cmd,
    feeds_cmd,
    import_cmd,
    keys_cmd,
    push_keys_cmd,
    reindex_cmd,
    replay_cmd,
    search_nodes_cmd,
    status_cmd,
    trace_cmd,
    trim_cmd,
)

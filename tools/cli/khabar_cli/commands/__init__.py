"""The commands of `khabar`; importing this package registers them all on the app."""

from khabar_cli.commands import import_cmd, keys_cmd, reindex_cmd  # noqa: F401

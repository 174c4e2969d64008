"""Enrich's Lua scripts (the files in `lua/`), by name."""

from khabar_shared.lua import ScriptRegistry

SCRIPTS = ScriptRegistry("khabar_enrich")

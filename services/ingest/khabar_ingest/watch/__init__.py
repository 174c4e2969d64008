"""Watched feeds: RSS/Atom feeds that ingest polls, not imported once."""

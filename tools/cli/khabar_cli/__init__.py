"""The operator's command-line tool: `khabar --help`."""

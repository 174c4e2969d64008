"""The commands of `khabar`; importing this package registers them all on the app."""

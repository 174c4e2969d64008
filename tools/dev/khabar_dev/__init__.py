"""Development tooling: start Redis, Meilisearch and the services on one machine."""

"""What every khabar service needs: event schemas, stream and key names,
settings, logging, Redis helpers and the stream consumer plumbing."""

"""Entry point: `khabar-ingest` serves the ingest API."""

import uvicorn

from khabar_ingest.app import create_app
from khabar_ingest.settings import IngestSettings
from khabar_shared.logging import configure_logging


def main() -> None:
    settings = IngestSettings()
    configure_logging("ingest", settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()

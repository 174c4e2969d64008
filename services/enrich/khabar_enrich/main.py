"""Entry point: `khabar-enrich` consumes article events and serves /healthz, /readyz, /metrics."""

import uvicorn

from khabar_enrich.app import create_app
from khabar_enrich.settings import EnrichSettings
from khabar_shared.logging import configure_logging


def main() -> None:
    settings = EnrichSettings()
    configure_logging("enrich", settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.enrich_host,
        port=settings.enrich_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()

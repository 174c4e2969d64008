"""Entry point: `khabar-enrich` consumes article events and serves /healthz, /readyz, /metrics."""

from khabar_enrich.app import create_app
from khabar_enrich.settings import EnrichSettings
from khabar_shared.serve import serve


def main() -> None:
    settings = EnrichSettings()
    serve(
        create_app, settings, service="enrich", host=settings.enrich_host, port=settings.enrich_port
    )


if __name__ == "__main__":
    main()

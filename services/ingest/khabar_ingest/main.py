"""Entry point: `khabar-ingest` serves the ingest API."""

from khabar_ingest.app import create_app
from khabar_ingest.settings import IngestSettings
from khabar_shared.serve import serve


def main() -> None:
    settings = IngestSettings()
    serve(
        create_app,
        settings,
        service="ingest",
        host=settings.ingest_host,
        port=settings.ingest_port,
        ops_port=settings.ingest_ops_port,
    )


if __name__ == "__main__":
    main()

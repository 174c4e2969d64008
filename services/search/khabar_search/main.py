"""Entry point: `khabar-search` indexes enriched articles and serves readers' search."""

import uvicorn

from khabar_search.app import create_app
from khabar_search.settings import SearchSettings
from khabar_shared.logging import configure_logging


def main() -> None:
    settings = SearchSettings()
    configure_logging("search", settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.search_host,
        port=settings.search_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()

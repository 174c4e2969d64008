"""Entry point: `khabar-search` indexes enriched articles and serves readers' search."""

from khabar_search.app import create_app
from khabar_search.settings import SearchSettings
from khabar_shared.serve import serve


def main() -> None:
    settings = SearchSettings()
    serve(
        create_app,
        settings,
        service="search",
        host=settings.search_host,
        port=settings.search_port,
        ops_port=settings.search_ops_port,
    )


if __name__ == "__main__":
    main()

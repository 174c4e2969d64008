"""Entry point: `khabar-render` keeps fragments fresh and serves them."""

import uvicorn

from khabar_render.app import create_app
from khabar_render.settings import RenderSettings
from khabar_shared.logging import configure_logging


def main() -> None:
    settings = RenderSettings()
    configure_logging("render", settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.render_host,
        port=settings.render_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()

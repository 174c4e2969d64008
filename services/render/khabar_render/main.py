"""Entry point: `khabar-render` keeps fragments fresh and serves them."""

from khabar_render.app import create_app
from khabar_render.settings import RenderSettings
from khabar_shared.serve import serve


def main() -> None:
    settings = RenderSettings()
    serve(
        create_app,
        settings,
        service="render",
        host=settings.render_host,
        port=settings.render_port,
        ops_port=settings.render_ops_port,
    )


if __name__ == "__main__":
    main()

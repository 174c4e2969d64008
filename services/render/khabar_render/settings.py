"""Render's settings: `KHABAR_*` environment variables."""

from pathlib import Path

from pydantic import Field, SecretStr

from khabar_shared.site_settings import SiteSettings


class RenderSettings(SiteSettings):
    # Site name, base URL, time zone and language: `KHABAR_SITE_*` (khabar_shared.site_settings).
    render_host: str = "127.0.0.1"
    render_port: int = 8003
    # Operations routes (/metrics, /readyz, /docs…) answer here, not on the public port;
    # 0 keeps them on the public port.
    render_ops_port: int = Field(default=9003, ge=0, le=65535)
    # Hosts pictures may come from, comma separated ("cdn.example.com, *.img.example.org");
    # "*" allows any web host. A picture from elsewhere is not shown, and the pages'
    # Content-Security-Policy allows only these.
    image_hosts: str = "*"
    arabic_digits: bool = True
    # Pictures pushed to ingest (the same directory or volume as ingest's KHABAR_MEDIA_DIR).
    media_dir: Path = Path(".khabar/media")
    media_max_age_s: int = Field(default=86_400, ge=0)
    listing_page_size: int = Field(default=20, ge=1, le=100)
    home_per_section: int = Field(default=4, ge=1, le=20)
    # Seconds a CDN may serve a fragment before it must revalidate.
    cache_max_age_s: int = Field(default=30, ge=0)
    cache_stale_while_revalidate_s: int = Field(default=300, ge=0)
    # Optional CDN purge webhook: receives the surrogate keys of changed articles.
    purge_webhook_url: str = ""
    # The edge (Varnish, edge/khabar.vcl) to purge by surrogate key, e.g.
    # http://127.0.0.1:8000/, and the token its VCL expects; empty: no edge.
    edge_purge_url: str = ""
    edge_purge_token: SecretStr = SecretStr("")
    # The edge's listings and home include each card as a fragment of its own, so
    # a story's change re-fetches its cards alone. Each include costs the edge a
    # sub-request on every page hit (bench.edge): false sends the edge listings
    # and home whole, fetched again whenever one of their stories changes.
    edge_card_includes: bool = True
    # Fragments rendered again per chunk of the warm lane (`warm.py`): home,
    # listings, re-linked and dependent articles' fragments, all purged before
    # the batch was acked, so never stale, only cold until then.
    eager_render_limit: int = Field(default=64, ge=0)
    # Seconds the warm lane holds home and first listing pages after a batch purged them, so
    # the batches of that window cost one render of each (cold meanwhile, never stale); 0
    # renders them again after every batch.
    warm_coalesce_s: float = Field(default=1.0, ge=0)
    # Breaking news (`breaking.py`): how long a headline-only flash stays in the banner
    # above home and its listings when no full article on its story comes, and how often
    # the sweeper looks for flashes that stopped breaking.
    breaking_news_s: int = Field(default=1800, ge=1)
    breaking_sweep_s: float = Field(default=15.0, gt=0)

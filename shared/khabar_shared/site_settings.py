"""What readers see of the site as a whole, shared by the services that draw pages (render, search).

`KHABAR_SITE_*` settings: the base of absolute URLs, the site's names, the
time zone dates are shown in, and the language of pages that are no one
article's. Each service's `settings.py` subclasses `SiteSettings`.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from khabar_shared.settings import CommonSettings


class SiteSettings(CommonSettings):
    # Absolute base of canonical URLs, share links, feeds and sitemaps: the edge's address.
    site_base_url: str = "http://127.0.0.1:8000"
    site_name_ar: str = "خبر"
    site_name_en: str = "Khabar"
    # IANA zone in which readers see dates, e.g. Asia/Riyadh.
    site_time_zone: str = "UTC"
    # Language of home, listings, search and error pages that are no one article's.
    site_language: str = "ar"

    @field_validator("site_time_zone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Asia/Riyadh)"
            ) from error
        return value

    @field_validator("site_base_url")
    @classmethod
    def no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def site_names(self) -> dict[str, str]:
        return {"ar": self.site_name_ar, "en": self.site_name_en}

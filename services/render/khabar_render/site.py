"""Site configuration: the name, the sections and the words the page chrome uses.

The sections and subsections are the one definition in `khabar_shared.sections`
(`KHABAR_SECTIONS_FILE`), the same that ingest and enrich read.

Everything a page says that does not come from an article lives here, in Arabic
and English, so the same templates serve both directions. The wiring builds one
`Site` (usually `default_site(base_url=...)`) and passes it to every renderer.
"""

from datetime import datetime
from urllib.parse import quote

from pydantic import BaseModel, Field

from khabar_shared.dates import arabic_number, base_language, human_date, local_time
from khabar_shared.sections import Section, Sections, sections

# The words of the page chrome, by language. English is the fallback.
LABELS: dict[str, dict[str, str]] = {
    "ar": {
        "home": "الرئيسية",
        "breadcrumb": "مسار التصفح",
        "category": "التصنيف:",
        "share": "شارك الخبر:",
        "see_also": "شاهد ايضاً:",
        "related": "أخبار ذات صلة",
        "email": "البريد الإلكتروني",
        "by": "بقلم",
        "published": "نُشر في",
        "updated": "حُدّث في",
        "corrections": "تصحيحات",
        "previous": "السابق",
        "next": "التالي",
        "page_of": "صفحة {page} من {pages}",
        "latest": "آخر الأخبار",
        "more_in": "المزيد من {section}",
        "sections": "الأقسام",
        "no_stories": "لا توجد أخبار في هذا القسم بعد.",
        "search": "بحث",
        "search_placeholder": "ابحث في الأخبار…",
        "error_404_title": "الصفحة غير موجودة",
        "error_404_text": "لم نجد ما تبحث عنه. ربما تغيّر الرابط أو حُذفت الصفحة.",
        "error_410_title": "سُحب هذا الخبر",
        "error_410_text": "سحبت هيئة التحرير هذا الخبر ولم يعد منشوراً.",
        "error_503_title": "الخدمة غير متاحة مؤقتاً",
        "error_503_text": "نعتذر، حاول مرة أخرى بعد قليل.",
    },
    "en": {
        "home": "Home",
        "breadcrumb": "Breadcrumb",
        "category": "Category:",
        "share": "Share:",
        "see_also": "See also:",
        "related": "Related news",
        "email": "Email",
        "by": "By",
        "published": "Published",
        "updated": "Updated",
        "corrections": "Corrections",
        "previous": "Previous",
        "next": "Next",
        "page_of": "Page {page} of {pages}",
        "latest": "Latest news",
        "more_in": "More in {section}",
        "sections": "Sections",
        "no_stories": "No stories in this section yet.",
        "search": "Search",
        "search_placeholder": "Search the news…",
        "error_404_title": "Page not found",
        "error_404_text": "We could not find what you were looking for. The link may have changed.",
        "error_410_title": "This article was withdrawn",
        "error_410_text": "The newsroom withdrew this article; it is no longer published.",
        "error_503_title": "Briefly unavailable",
        "error_503_text": "Sorry, please try again in a moment.",
    },
}

RTL_LANGUAGES = {"ar", "fa", "he", "ur"}


def direction_of(lang: str) -> str:
    return "rtl" if base_language(lang) in RTL_LANGUAGES else "ltr"


class Site(BaseModel):
    """What a page needs to know about the site it belongs to."""

    names: dict[str, str] = Field(default_factory=lambda: {"ar": "خبر", "en": "Khabar"})
    base_url: str = "http://127.0.0.1:8003"
    language: str = Field(default="ar", description="Language of pages that are not one article's.")
    definition: Sections = Field(default_factory=sections, description="Sections and subsections.")
    arabic_digits: bool = Field(default=True, description="Write numbers in Arabic pages as ٠١٢٣.")
    timezone: str = Field(default="UTC", description="Zone in which dates are shown to readers.")
    og_locales: dict[str, str] = Field(default_factory=lambda: {"ar": "ar_AR", "en": "en_GB"})
    stylesheet: str = "/static/site.css"

    def name(self, lang: str) -> str:
        return self.names.get(base_language(lang)) or next(iter(self.names.values()))

    def label(self, key: str, lang: str, **values: str) -> str:
        words = LABELS.get(base_language(lang), LABELS["en"])
        text = words.get(key) or LABELS["en"][key]
        return text.format(**values) if values else text

    @property
    def sections(self) -> list[Section]:
        return self.definition.sections

    def nav_sections(self) -> list[Section]:
        return self.definition.nav()

    def top_sections(self) -> list[Section]:
        """The sections home shows a block of (subsections are listed in their parent's)."""
        return [section for section in self.sections if section.parent is None]

    def section(self, slug: str, name: str = "") -> Section:
        """The section a slug (or one of its aliases) names; a category the definition does
        not know gets a plain one, named as the newsroom sent it (`name`)."""
        known = self.definition.get(slug)
        if known is not None:
            return known
        return Section(slug=slug, labels={"en": name or slug.replace("-", " ")}, in_nav=False)

    def listings_of(self, slug: str) -> list[str]:
        """The listings an article filed under `slug` is in (its own, then its parents')."""
        return self.definition.listings_of(slug)

    def breadcrumb(self, slug: str, name: str = "") -> list[Section]:
        """Sections from the top down to the article's category (unknown: under the default)."""
        return [
            self.section(each, name if each == slug else "")
            for each in reversed(self.listings_of(slug))
        ]

    def og_locale(self, lang: str) -> str:
        return self.og_locales.get(base_language(lang), base_language(lang))

    # Addresses -------------------------------------------------------------

    def absolute(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def article_path(self, article_id: str) -> str:
        return "/articles/" + quote(article_id, safe="")

    def category_path(self, slug: str, page: int = 1) -> str:
        path = "/category/" + quote(self.section(slug).slug, safe="")
        return path if page <= 1 else f"{path}?page={page}"

    # Numbers and dates -----------------------------------------------------

    def number(self, value: int | str, lang: str) -> str:
        text = str(value)
        if self.arabic_digits and base_language(lang) == "ar":
            return arabic_number(text)
        return text

    def human_date(self, moment: datetime, lang: str) -> str:
        """'26 فبراير 2018، 14:05' or '26 February 2018, 14:05' in the site's zone."""
        return human_date(moment, lang, self.timezone, self.arabic_digits)

    def local_time(self, moment: datetime) -> datetime:
        return local_time(moment, self.timezone)


def default_site(**overrides: object) -> Site:
    """The site as the reference page shows it; override e.g. `base_url` from settings."""
    return Site.model_validate(overrides)

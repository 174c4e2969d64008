"""The site's sections, and how a category or subject from outside maps onto one."""

from functools import lru_cache

from .ids import slugify

SECTIONS = ("world", "middle-east", "economy", "sport", "technology", "culture")

# Corpus categories, English and Arabic names, IPTC media topic codes.
_ALIASES: dict[str, str] = {
    "internationalnews": "world",
    "international": "world",
    "world": "world",
    "world news": "world",
    "politics": "world",
    "عالم": "world",
    "العالم": "world",
    "دولي": "world",
    "أخبار العالم": "world",
    "middleeast": "middle-east",
    "middle east": "middle-east",
    "middle-east": "middle-east",
    "الشرق الأوسط": "middle-east",
    "شرق أوسط": "middle-east",
    "عربي": "middle-east",
    "economy": "economy",
    "business": "economy",
    "economy, business and finance": "economy",
    "اقتصاد": "economy",
    "الاقتصاد": "economy",
    "sport": "sport",
    "sports": "sport",
    "رياضة": "sport",
    "الرياضة": "sport",
    "technology": "technology",
    "tech": "technology",
    "science and technology": "technology",
    "تكنولوجيا": "technology",
    "التكنولوجيا": "technology",
    "تقنية": "technology",
    "culture": "culture",
    "arts, culture, entertainment and media": "culture",
    "arts": "culture",
    "ثقافة": "culture",
    "الثقافة": "culture",
    "فن": "culture",
    "medtop:01000000": "culture",
    "medtop:04000000": "economy",
    "medtop:11000000": "world",
    "medtop:13000000": "technology",
    "medtop:15000000": "sport",
}


@lru_cache(maxsize=4096)  # a newsroom files under a few hundred names; each is mapped once
def section_for(name: str, code: str | None = None) -> str:
    """The section slug for a category name or subject (name and optional code).

    Known names and codes map onto the site's sections; anything else becomes
    its own ASCII slug ('Arts & Crafts' → 'arts-crafts'), or '' when it has no
    ASCII letters to make one from.
    """
    for candidate in (code or "", name):
        key = " ".join(candidate.strip().lower().split())
        if key in _ALIASES:
            return _ALIASES[key]
    return slugify(name, max_length=60)

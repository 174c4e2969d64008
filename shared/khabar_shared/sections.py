"""The site's sections and subsections: one definition that ingest, enrich and render read.

The definition is a JSON file: the bundled `data/sections.json`, or the file
named by `KHABAR_SECTIONS_FILE` (an operator's own, same shape). Each entry has
a slug (the listing's address, `/category/<slug>`), its names by language, an
optional parent (a subsection such as `asia` under `world`), whether the
navigation shows it, and aliases: other names and codes newsrooms file under
(any language, IPTC media topic codes).

A newsroom's category is kept as the newsroom sent it (`Category`): a known one
gets the definition's slug, an unknown one a slug of its own made from its code
or name, so it has a listing page of its own; `listings_of` places it under its
parent section, or under the default section when the definition does not
know it.

Each service loads the definition once at start (`use_sections`, from its
settings); the parsers and templates read it through `sections()`.
"""

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field, PrivateAttr, model_validator

MAX_SLUG_CHARS = 60
_NOT_WORD = re.compile(r"[\W_]+")


class Section(BaseModel):
    """One section or subsection of the site: a listing page and, usually, a navigation item."""

    slug: str
    labels: dict[str, str] = Field(description="Display name by language.")
    parent: str | None = Field(default=None, description="The section this one is part of.")
    in_nav: bool | None = Field(default=None, description="Default: top-level sections only.")
    aliases: list[str] = Field(
        default_factory=list,
        description="Other names and codes newsrooms file under, e.g. 'internationalNews'.",
    )

    @property
    def shown_in_nav(self) -> bool:
        return self.parent is None if self.in_nav is None else self.in_nav

    def label(self, lang: str) -> str:
        base = lang.split("-")[0].lower() if lang else "en"
        return self.labels.get(base) or self.labels.get("en") or self.slug


class Category(BaseModel):
    """What an article is filed under: a slug for its listing, and the newsroom's own name."""

    slug: str = ""
    name: str = ""

    def as_fields(self) -> dict[str, str]:
        """The article's fields (`category`, `category_name`)."""
        return {"category": self.slug, "category_name": self.name}


def lookup_key(text: str) -> str:
    """How names are compared: case and runs of spaces do not count."""
    return " ".join(text.strip().lower().split())


def category_slug(text: str) -> str:
    """A slug in any script: 'Arts & Crafts' → 'arts-crafts', 'شؤون خليجية' → 'شؤون-خليجية'."""
    return _NOT_WORD.sub("-", text.strip().lower()).strip("-")[:MAX_SLUG_CHARS].rstrip("-")


class Sections(BaseModel):
    """The whole definition, with lookups by slug, name and code."""

    default: str = Field(description="Where an article whose category is unknown is listed.")
    sections: list[Section]
    _keys: dict[str, Section] | None = PrivateAttr(default=None)  # lookup key -> section

    @model_validator(mode="after")
    def _check(self) -> "Sections":
        slugs = [section.slug for section in self.sections]
        if len(set(slugs)) != len(slugs):
            raise ValueError("two sections share a slug")
        if self.default not in slugs:
            raise ValueError(f"the default section {self.default!r} is not defined")
        for section in self.sections:
            if section.parent is not None and section.parent not in slugs:
                raise ValueError(f"{section.slug!r} names an unknown parent {section.parent!r}")
        return self

    @property
    def _by_key(self) -> dict[str, Section]:
        if self._keys is None:
            self._keys = {}
            for section in self.sections:
                for key in (section.slug, *section.aliases, *section.labels.values()):
                    self._keys.setdefault(lookup_key(key), section)
        return self._keys

    def get(self, slug: str) -> Section | None:
        """The section with this slug or alias."""
        return self._by_key.get(lookup_key(slug)) if slug else None

    def find(self, name: str, code: str | None = None) -> Section | None:
        """The section a category's code, or else its name (slug, alias, label), names."""
        for candidate in (code or "", name):
            if candidate and (found := self._by_key.get(lookup_key(candidate))) is not None:
                return found
        return None

    def category(self, name: str, code: str | None = None) -> Category:
        """The newsroom's category as sent, with the slug of its listing."""
        name = " ".join(name.split())
        known = self.find(name, code)
        if known is not None:
            slug = known.slug
        else:
            slug = category_slug(code or "") or category_slug(name)
        return Category(slug=slug, name=name if name != code else "")

    def listings_of(self, slug: str) -> list[str]:
        """The listings an article filed under `slug` appears in: its own, then each section
        above it; an unknown category is listed under the default section too."""
        known = self.get(slug)
        if known is None:
            return [slug, self.default] if slug else [self.default]
        chain = [known.slug]
        parent = self.get(known.parent) if known.parent else None  # parents checked on load
        while parent is not None and parent.slug not in chain:
            chain.append(parent.slug)
            parent = self.get(parent.parent) if parent.parent else None
        return chain

    def top_of(self, slug: str) -> str:
        """The top-level section an article filed under `slug` belongs to."""
        return self.listings_of(slug)[-1]

    def nav(self) -> list[Section]:
        return [section for section in self.sections if section.shown_in_nav]


BUNDLED = "sections.json"


@lru_cache(maxsize=4)
def load_sections(path: str = "") -> Sections:
    """The definition in `path`, or the bundled one when `path` is empty."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("khabar_shared").joinpath("data", BUNDLED).read_text("utf-8")
    return Sections.model_validate(json.loads(text))


_current: list[Sections] = []


def use_sections(path: str = "") -> Sections:
    """Load the definition a service's settings name (`KHABAR_SECTIONS_FILE`) and use it."""
    _current[:] = [load_sections(path)]
    return _current[0]


def sections() -> Sections:
    """The definition in use: the one `use_sections` loaded, else the bundled one."""
    return _current[0] if _current else load_sections()

"""HTML fragments and pages, as pure functions of enriched articles and teasers.

Each `render_*` function returns a `Fragment`: the HTML and `shows`, the ids of
every article it displays (for Surrogate-Key headers and the dependency index
that re-renders a fragment when one of those articles changes or is killed).
`render_page` wraps fragments in the site's chrome and returns the whole page.

All templates autoescape; the only markup that is trusted is the body after
`sanitize_body`, the JSON-LD this module writes, and fragments rendered here.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from pydantic import BaseModel, Field

from khabar_render.sanitize import image_allowed, safe_url, sanitize_body, split_sections
from khabar_render.site import Section, Site, direction_of
from khabar_shared.events import EnrichedArticle, Image
from khabar_shared.sections import sections

MAX_SEE_ALSO = 4
MAX_RELATED_CARDS = 4
HOME_CARDS_PER_SECTION = 4
# Cards are h3 under a block heading (home, related); a section page lists them as h2.
DEFAULT_CARD_HEADING = "h3"
# Bodies whose sanitized sections are kept: the recent stories that get re-linked.
BODY_CACHE_SIZE = 512


# Models ----------------------------------------------------------------------


class Teaser(BaseModel):
    """What a card or an inline link shows of another article."""

    id: str
    headline: str
    teaser: str = Field(default="", description="The lead, or the first words of the body.")
    category: str = Field(default="", description="Section slug.")
    category_name: str = Field(default="", description="The newsroom's name for it, if sent.")
    image: Image | None = None
    published: datetime
    language: str = "ar"

    @property
    def direction(self) -> str:
        return direction_of(self.language)


class Fragment(BaseModel):
    html: str
    shows: list[str] = Field(default_factory=list, description="Ids of every article displayed.")

    def __html__(self) -> str:
        # Lets templates place a fragment without escaping it again.
        return self.html


class PageMeta(BaseModel):
    """What a page tells search engines and social networks about itself."""

    description: str = ""
    image: str | None = Field(default=None, description="Picture URL for og:image and JSON-LD.")
    og_type: Literal["article", "website"] = "website"
    section: str = Field(default="", description="Section slug the page belongs to.")
    is_home: bool = False
    headline: str = ""
    published: datetime | None = None
    modified: datetime | None = None
    author: str = ""


class ShareLink(BaseModel):
    network: str
    label: str
    href: str


@dataclass
class _BodySection:
    html: Markup
    see_also: list[Teaser] = field(default_factory=list)


# Jinja -----------------------------------------------------------------------


def esi_include(src: str) -> Fragment:
    """Where an edge that speaks ESI puts the fragment at `src` (a path of render's)."""
    return Fragment(html=f'<esi:include src="{escape(src)}"/>')


def fragment_path(kind: str, article_id: str) -> str:
    return f"/fragments/{kind}/" + quote(article_id, safe="")


def card_include(article_id: str, heading: str) -> Markup:
    """A listing's card left to the edge: one fragment per article and heading level."""
    path = fragment_path("card", article_id)
    if heading != DEFAULT_CARD_HEADING:
        path += f"?heading={heading}"
    return Markup(esi_include(path).html)


def _build_environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("khabar_render", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        # Templates ship with the package and never change while it runs: no stat per render.
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["safe_url"] = safe_url
    environment.filters["image_url"] = image_allowed
    environment.globals["card_include"] = card_include
    return environment


ENVIRONMENT = _build_environment()


def _render(template: str, **context: object) -> str:
    return ENVIRONMENT.get_template(template).render(**context).strip()


# Helpers ---------------------------------------------------------------------


def category_of(enriched: EnrichedArticle) -> str:
    """The category an article is filed under: the newsroom's, else enrich's topic.

    The one rule for the category link, the teaser's category and the listings
    an article appears in (`Site.listings_of`). A topic never replaces a
    category the newsroom gave.
    """
    return enriched.article.category or enriched.topic or sections().default


def updated_at(enriched: EnrichedArticle) -> datetime | None:
    """When a later version changed the article, shown beside the published time."""
    article = enriched.article
    published = article.firstcreated or article.versioncreated
    if enriched.version > 1 and article.versioncreated > published:
        return article.versioncreated
    return None


def category_name_of(enriched: EnrichedArticle) -> str:
    """The newsroom's own name of the category, when `category_of` is the newsroom's."""
    return enriched.article.category_name if enriched.article.category else ""


def teaser_from_enriched(enriched: EnrichedArticle) -> Teaser:
    """The teaser of a stored article, as cards and inline links show it."""
    article = enriched.article
    return Teaser(
        id=article.id,
        headline=article.headline,
        teaser=article.lead,
        category=category_of(enriched),
        category_name=category_name_of(enriched),
        image=article.featured_image,
        published=article.firstcreated or article.versioncreated,
        language=article.language,
    )


def share_links(url: str, headline: str, lang: str, site: Site) -> list[ShareLink]:
    """Links that share `url` on social networks and by email, every value URL-encoded."""
    u, text = quote(url, safe=""), quote(headline, safe="")
    both = quote(headline + " " + url, safe="")
    # (network, label, link)
    links = [
        ("facebook", "Facebook", f"https://www.facebook.com/sharer/sharer.php?u={u}"),
        ("x", "X", f"https://x.com/intent/post?url={u}&text={text}"),
        ("linkedin", "LinkedIn", f"https://www.linkedin.com/sharing/share-offsite/?url={u}"),
        ("whatsapp", "WhatsApp", f"https://wa.me/?text={both}"),
        ("telegram", "Telegram", f"https://t.me/share/url?url={u}&text={text}"),
        ("email", site.label("email", lang), f"mailto:?subject={text}&body={u}"),
    ]
    return [ShareLink(network=network, label=label, href=href) for network, label, href in links]


def _distinct(teasers: Iterable[Teaser], exclude: Iterable[str]) -> list[Teaser]:
    """Teasers in order, without excluded ids or repeats."""
    seen = set(exclude)
    kept = []
    for teaser in teasers:
        if teaser.id not in seen:
            seen.add(teaser.id)
            kept.append(teaser)
    return kept


def _see_also_slots(section_count: int, link_count: int) -> list[int]:
    """After which sections the inline links go: spread out, never after the last."""
    links = min(link_count, max(0, section_count - 1))
    return [(index + 1) * section_count // (links + 1) - 1 for index in range(links)]


def _body_sections(body_html: str, see_also: list[Teaser]) -> list[_BodySection]:
    """The sanitized body's sections, each with the inline links that follow it.

    Links go between sections; a body too short to hold them all (or empty)
    gets the rest after its last section, so every link passed is shown.
    """
    sections = [_BodySection(html=Markup(html)) for html in _clean_sections(body_html)]
    if not sections:
        sections = [_BodySection(html=Markup(""))]
    slots = _see_also_slots(len(sections), len(see_also))
    for slot, teaser in zip(slots, see_also):
        sections[slot].see_also.append(teaser)
    sections[-1].see_also.extend(see_also[len(slots) :])
    return sections


@lru_cache(maxsize=BODY_CACHE_SIZE)
def _clean_sections(body_html: str) -> tuple[str, ...]:
    """The sanitized body cut into sections: the same for every render of one version.

    An article is rendered again each time its related links change; sanitizing
    and cutting its body again each time cost more than the rest of the render.
    """
    return tuple(split_sections(sanitize_body(body_html)))


def _by_latest(teasers: Iterable[Teaser]) -> list[Teaser]:
    return sorted(teasers, key=lambda teaser: teaser.published, reverse=True)


# Fragments -------------------------------------------------------------------


def render_article(enriched: EnrichedArticle, see_also: list[Teaser], site: Site) -> Fragment:
    """The article itself: headline to body, with up to four inline "see also" links.

    `see_also` is ranked (best first); the first four different stories (never
    the article itself) are shown, spread between body sections. `shows` lists
    the article and the stories linked inline: pass it to the related block as
    `exclude_ids`.
    """
    article = enriched.article
    candidates = _distinct(see_also, exclude=[article.id])[:MAX_SEE_ALSO]
    sections = _body_sections(article.body_html, candidates)
    linked = [teaser.id for section in sections for teaser in section.see_also]
    html = _render(
        "article.html",
        article=article,
        lang=article.language,
        dir=article.direction,
        published=article.firstcreated or article.versioncreated,
        updated=updated_at(enriched),
        image_src=image_allowed(article.featured_image.href) if article.featured_image else None,
        category=category_of(enriched),
        category_name=category_name_of(enriched),
        breadcrumb=site.breadcrumb(category_of(enriched), category_name_of(enriched)),
        share_links=share_links(
            site.absolute(site.article_path(article.id)), article.headline, article.language, site
        ),
        sections=sections,
        site=site,
    )
    return Fragment(html=html, shows=[article.id, *linked])


def render_related_block(
    teasers: list[Teaser], exclude_ids: Iterable[str], site: Site, lang: str | None = None
) -> Fragment:
    """The "أخبار ذات صلة" / "Related news" block: up to four cards not linked inline.

    Pass the article fragment's `shows` as `exclude_ids`. With nothing left to
    show the fragment is empty.
    """
    lang = lang or site.language
    cards = _distinct(teasers, exclude=exclude_ids)[:MAX_RELATED_CARDS]
    if not cards:
        return Fragment(html="", shows=[])
    html = _render("related.html", teasers=cards, lang=lang, dir=direction_of(lang), site=site)
    return Fragment(html=html, shows=[teaser.id for teaser in cards])


def render_teaser_card(teaser: Teaser, site: Site, heading: str = DEFAULT_CARD_HEADING) -> Fragment:
    html = _render("teaser_card.html", teaser=teaser, site=site, heading=heading)
    return Fragment(html=html, shows=[teaser.id])


def render_category_listing(
    slug: str, teasers: list[Teaser], page: int, pages: int, site: Site, esi_cards: bool = False
) -> Fragment:
    """One page of a section's stories, latest first, with previous/next links.

    With `esi_cards`, each card is an `<esi:include>` of its own fragment.
    """
    pages = max(1, pages)
    page = min(max(1, page), pages)
    cards = _by_latest(_distinct(teasers, exclude=[]))
    html = _render(
        "category.html",
        section=site.section(slug),
        teasers=cards,
        page=page,
        pages=pages,
        lang=site.language,
        dir=direction_of(site.language),
        site=site,
        esi_cards=esi_cards,
    )
    return Fragment(html=html, shows=[teaser.id for teaser in cards])


@dataclass
class _HomeBlock:
    section: Section
    teasers: list[Teaser]


def render_home(
    sections: dict[str, list[Teaser]],
    site: Site,
    per_section: int = HOME_CARDS_PER_SECTION,
    esi_cards: bool = False,
) -> Fragment:
    """The latest stories of each section, in the order of the site's navigation.

    With `esi_cards`, each card is an `<esi:include>` of its own fragment.
    """
    order = {section.slug: index for index, section in enumerate(site.sections)}
    blocks: dict[str, _HomeBlock] = {}
    for slug, teasers in sections.items():
        section = site.section(slug)
        block = blocks.setdefault(section.slug, _HomeBlock(section=section, teasers=[]))
        block.teasers.extend(teasers)
    ordered = sorted(blocks.values(), key=lambda block: order.get(block.section.slug, len(order)))
    shown: list[str] = []
    for block in ordered:
        block.teasers = _by_latest(_distinct(block.teasers, exclude=shown))[:per_section]
        shown.extend(teaser.id for teaser in block.teasers)
    html = _render(
        "home.html",
        blocks=[block for block in ordered if block.teasers],
        lang=site.language,
        dir=direction_of(site.language),
        site=site,
        esi_cards=esi_cards,
    )
    return Fragment(html=html, shows=shown)


# Pages -----------------------------------------------------------------------


def article_page_meta(enriched: EnrichedArticle, site: Site) -> PageMeta:
    article = enriched.article
    return PageMeta(
        description=article.lead,
        image=article.featured_image.href if article.featured_image else None,
        og_type="article",
        section=category_of(enriched),
        headline=article.headline,
        published=article.firstcreated or article.versioncreated,
        modified=article.versioncreated,
        author=article.byline,
    )


def json_ld_script_body(data: dict[str, object]) -> Markup:
    """JSON for a <script> element: nothing in it can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(raw, escaped)
    return Markup(text)


def _absolute_image(url: str | None, site: Site) -> str | None:
    checked = image_allowed(url)
    if checked and checked.startswith("/") and not checked.startswith("//"):
        return site.absolute(checked)
    return checked


def _news_article_json_ld(
    meta: PageMeta, lang: str, canonical_url: str, image: str | None, site: Site
) -> dict[str, object]:
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": meta.headline,
        "description": meta.description,
        "inLanguage": lang,
        "mainEntityOfPage": canonical_url,
        "publisher": {"@type": "Organization", "name": site.name(lang)},
    }
    if meta.published:
        data["datePublished"] = site.local_time(meta.published).isoformat()
    if meta.modified:
        data["dateModified"] = site.local_time(meta.modified).isoformat()
    if meta.author:
        data["author"] = [{"@type": "Person", "name": meta.author}]
    if image:
        data["image"] = [image]
    if meta.section:
        data["articleSection"] = site.section(meta.section).label(lang)
    return data


def render_page(
    title: str,
    body_fragments: Sequence[str | Fragment],
    lang: str,
    dir: str,
    canonical_url: str,
    meta: PageMeta,
    site: Site,
) -> str:
    """A whole HTML5 page: head (canonical, Open Graph, JSON-LD), site chrome, fragments.

    Fragments are placed as they are: pass only HTML rendered by this module.
    """
    image = _absolute_image(meta.image, site)
    json_ld = None
    if meta.og_type == "article":
        json_ld = json_ld_script_body(_news_article_json_ld(meta, lang, canonical_url, image, site))
    return ENVIRONMENT.get_template("page.html").render(
        title=title,
        fragments=[
            Markup(fragment) if isinstance(fragment, str) else fragment
            for fragment in body_fragments
        ],
        lang=lang,
        dir=dir,
        canonical_url=canonical_url,
        meta=meta,
        og_image=image,
        json_ld=json_ld,
        current_section=site.listings_of(meta.section)[-1] if meta.section else "",
        site=site,
    )


def render_chrome(part: Literal["header", "footer"], lang: str, site: Site) -> str:
    """The site's header or footer alone, as every page has it (for pages made elsewhere)."""
    chrome = ENVIRONMENT.get_template("_chrome.html").module
    macro = chrome.site_header if part == "header" else chrome.site_footer  # type: ignore[attr-defined]
    return str(macro(site, lang)).strip()


class Page(BaseModel):
    html: str
    shows: list[str]


def render_article_page(
    enriched: EnrichedArticle, see_also: list[Teaser], related: list[Teaser], site: Site
) -> Page:
    """The article's whole page: article fragment, then the related block."""
    body = render_article(enriched, see_also, site)
    block = render_related_block(related, body.shows, site, lang=enriched.article.language)
    return assemble_article_page(enriched, body, block, site)


def assemble_article_page(
    enriched: EnrichedArticle, body: Fragment, block: Fragment, site: Site
) -> Page:
    """The whole page around an article fragment and its related block, rendered already."""
    article = enriched.article
    html = render_page(
        article.headline,
        [body, block],
        article.language,
        article.direction,
        site.absolute(site.article_path(article.id)),
        article_page_meta(enriched, site),
        site,
    )
    return Page(html=html, shows=[*body.shows, *block.shows])

"""A Superdesk package as a curated list: a "story package" block on its members' pages.

Ingest puts a package into each of its live members (`extra.story_package`: the
package's guid, headline and member article ids in the order its editor set; see
ingest's `push/packages.py`). The block lists the live members in that order, the
page's own article among them unlinked. It sits above the related block, in the same
fragment, so it shows whether the edge assembles the page or render does; the fragment
shows every member, so a member's change, withdrawal or late arrival purges it.
"""

from pydantic import BaseModel, ValidationError

from khabar_render.fragments import ENVIRONMENT, Fragment, Teaser
from khabar_render.site import Site, direction_of
from khabar_shared.events import EnrichedArticle

LABELS = {"ar": "ملف القصة", "en": "Story package"}


class StoryPackage(BaseModel):
    guid: str
    headline: str = ""
    members: list[str]


def package_of(enriched: EnrichedArticle) -> StoryPackage | None:
    raw = enriched.article.extra.get("story_package")
    if not isinstance(raw, dict):
        return None
    try:
        return StoryPackage.model_validate(raw)
    except ValidationError:
        return None  # not ours to refuse: ingest wrote it


def member_ids(enriched: EnrichedArticle) -> list[str]:
    package = package_of(enriched)
    return package.members if package else []


def render_package(enriched: EnrichedArticle, members: list[Teaser], site: Site) -> Fragment:
    """The block, from the live members in the package's order; empty when none is another story."""
    package = package_of(enriched)
    current = enriched.article.id
    if package is None:
        return Fragment(html="", shows=[])
    # Every member, live or not yet: one that comes (or comes back) later purges the block.
    shows = package.members
    if not any(member.id != current for member in members):
        return Fragment(html="", shows=shows)
    lang = enriched.article.language
    html = ENVIRONMENT.get_template("story_package.html").render(
        headline=package.headline,
        members=members,
        current=current,
        label=LABELS.get(lang.split("-")[0], LABELS["en"]),
        lang=lang,
        dir=direction_of(lang),
        site=site,
    )
    return Fragment(html=html.strip(), shows=shows)

"""What Superdesk's ninjs formatter sends, made into what ingest's ninjs reader takes.

Superdesk's formatter (`superdesk/publish/formatters/ninjs_formatter.py`)
differs from IPTC ninjs in a few ways this module settles, without touching
the document's other fields (they stay in `Article.extra`):

- identity is `guid` (the formatter drops `uri`): `guid` becomes the `uri`;
- an item may come without `versioncreated` (the reader is given the time
  of receipt instead);
- `located` (the dateline city) is kept as a place;
- renditions whose `media` ingest holds (uploaded first to the assets URL)
  point at khabar's own copy, not at Superdesk's internal upload URL;
- an association that is only `{guid, type}` (a picture pushed before, or a
  package member) is filled in from what was pushed earlier;
- `rewrite_of` (an "update" in Superdesk: this item follows up the one whose
  guid it names, e.g. the full story after a flash) is kept, and that item's
  article id added as `follows_up`, for render to end the flash it follows.

Items are sorted by `type`: `text` (and `preformatted`) are articles,
`picture`/`graphic`/`video`/`audio` are media items, `composite` a package.
"""

from collections.abc import Callable, Mapping
from typing import Any, Literal

from khabar_ingest.formats.ids import article_id_from_uri

ARTICLE_TYPES = frozenset(("text", "preformatted"))
MEDIA_TYPES = frozenset(("picture", "graphic", "video", "audio"))
PACKAGE_TYPES = frozenset(("composite",))

Kind = Literal["article", "media", "package", "unknown"]


def kind_of(document: Mapping[str, Any]) -> Kind:
    kind = document.get("type", "text")
    if kind in ARTICLE_TYPES:
        return "article"
    if kind in MEDIA_TYPES:
        return "media"
    if kind in PACKAGE_TYPES:
        return "package"
    return "unknown"


def identity(document: Mapping[str, Any]) -> str | None:
    """The item's identity: `uri` when the sender gave one, else `guid`."""
    for name in ("uri", "guid"):
        value = document.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def as_ninjs(
    document: dict[str, Any],
    media_url: Callable[[str], str | None],
    earlier_item: Callable[[str], dict[str, Any] | None],
) -> dict[str, Any]:
    """`document` as the ninjs reader expects it (a new dict; `document` is not changed).

    `media_url(media_id)` is khabar's address of a held rendition (else None);
    `earlier_item(guid)` is an item pushed before (else None).
    """
    ninjs = dict(document)
    if "uri" not in ninjs and isinstance(ninjs.get("guid"), str):
        ninjs["uri"] = ninjs["guid"]
    if ninjs.get("type") == "preformatted":
        ninjs["type"] = "text"
    rewrite_of = ninjs.get("rewrite_of")
    if isinstance(rewrite_of, str) and rewrite_of.strip():
        ninjs["follows_up"] = article_id_from_uri(rewrite_of)
    located = ninjs.get("located")
    if isinstance(located, str) and located.strip() and "place" not in ninjs:
        ninjs["place"] = [{"name": located.strip()}]
    associations = ninjs.get("associations")
    if isinstance(associations, dict):
        ninjs["associations"] = {
            name: _association(item, media_url, earlier_item)
            for name, item in associations.items()
            if item is not None  # the formatter sends `null` for an emptied slot
        }
    if isinstance(ninjs.get("renditions"), dict):
        ninjs["renditions"] = own_renditions(ninjs["renditions"], media_url)
    return ninjs


def _association(
    item: Any,
    media_url: Callable[[str], str | None],
    earlier_item: Callable[[str], dict[str, Any] | None],
) -> Any:
    if not isinstance(item, dict):
        return item  # the reader names what is wrong with it
    if "renditions" not in item and isinstance(item.get("guid"), str):
        earlier = earlier_item(item["guid"])
        if earlier is not None:
            item = {**earlier, **item}
    if isinstance(item.get("renditions"), dict):
        item = {**item, "renditions": own_renditions(item["renditions"], media_url)}
    return item


def own_renditions(
    renditions: dict[str, Any], media_url: Callable[[str], str | None]
) -> dict[str, Any]:
    """Renditions whose `media` ingest holds point at khabar's copy; `null` ones are dropped."""
    result = {}
    for name, rendition in renditions.items():
        if rendition is None:
            continue  # the formatter's own tests send `"custom": None` (a crop too big)
        if isinstance(rendition, dict) and isinstance(rendition.get("media"), str):
            url = media_url(rendition["media"])
            if url is not None:
                rendition = {**rendition, "href": url}
        result[name] = rendition
    return result


def referenced_guids(document: Mapping[str, Any]) -> list[str]:
    """The guids a text item's associations name (to fill in those sent only by guid)."""
    associations = document.get("associations")
    if not isinstance(associations, dict):
        return []
    return [
        item["guid"]
        for item in associations.values()
        if isinstance(item, dict) and isinstance(item.get("guid"), str)
    ]


def package_members(document: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A composite's members in the order Superdesk sent them: (association name, item)."""
    associations = document.get("associations")
    if not isinstance(associations, dict):
        return []
    return [
        (name, item) for name, item in associations.items()
        if isinstance(item, dict) and isinstance(item.get("guid"), str)
    ]  # fmt: skip


def is_embedded(item: Mapping[str, Any]) -> bool:
    """A package member sent whole (Superdesk's "embedded items"), not only as `{guid, type}`."""
    return any(key in item for key in ("body_html", "body_text", "headline", "renditions"))

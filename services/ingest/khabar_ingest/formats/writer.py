"""An Article written back as the ninjs 1.x document a newsroom tool would post.

Used by imports (feeds and the corpus go through `POST /v1/articles/batch`
like any newsroom tool) and the benchmarks. `parse_ninjs(article_to_ninjs(a))`
gives `a` back.
"""

from typing import Any

from khabar_shared.events import Article


def article_to_ninjs(article: Article) -> dict[str, Any]:
    document: dict[str, Any] = {
        **article.extra,
        "uri": article.uri,
        "type": "text",
        "language": article.language,
        "pubstatus": article.pubstatus,
        "versioncreated": article.versioncreated.isoformat(),
        "headline": article.headline,
        "description_text": article.lead,
        "body_html": article.body_html,
        "subject": [s.model_dump(exclude_none=True) for s in article.subjects],
        "place": [p.model_dump(exclude_none=True) for p in article.places],
        "category": article.category,
        "source": article.source,
    }
    optional = {
        "firstcreated": article.firstcreated.isoformat() if article.firstcreated else None,
        "embargoed": article.embargoed.isoformat() if article.embargoed else None,
        "byline": article.byline or None,
        "url": article.url,
        "editor_note": article.editor_note or None,
    }
    document.update({key: value for key, value in optional.items() if value})
    if article.featured_image:
        image = article.featured_image
        document["associations"] = {"featuremedia": {
            "uri": image.href, "type": "picture", "description_text": image.caption,
            "creditline": image.credit, "alt_text": image.alt,
            "renditions": {"original": {"href": image.href}},
        }}  # fmt: skip
    return document

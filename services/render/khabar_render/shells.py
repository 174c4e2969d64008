"""The article shells a render process made lately, by what they were made from.

An article's shell (its page with the body and related block left to the
edge to include) shows nothing of its related links but their surrogate
keys, which are not in its HTML: every refresh of links rendered the same
bytes again through the page template, two or three times per published
story. Kept here by the page's inputs (the article's id, headline, language
and page metadata), a shell is rendered once per version of what it shows.
One cache per renderer: its site (chrome, sections) never changes while it runs.
"""

from collections import OrderedDict

from khabar_render.fragments import (
    article_page_meta,
    assemble_article_page,
    esi_include,
    fragment_path,
)
from khabar_render.site import Site
from khabar_shared.events import EnrichedArticle

# About the stories re-linked in a few minutes of publishing.
SHELL_CACHE_SIZE = 512


class ShellCache:
    def __init__(self, site: Site, size: int = SHELL_CACHE_SIZE) -> None:
        self._site = site
        self._size = size
        self._html: OrderedDict[tuple[str, ...], str] = OrderedDict()

    def html(self, enriched: EnrichedArticle) -> str:
        """The shell's HTML, rendered only when one of its inputs changed."""
        article = enriched.article
        inputs = (
            article.id,
            article.headline,
            article.language,
            article.direction,
            article_page_meta(enriched, self._site).model_dump_json(),
        )
        html = self._html.get(inputs)
        if html is None:
            html = assemble_article_page(
                enriched,
                esi_include(fragment_path("article", article.id)),
                esi_include(fragment_path("related", article.id)),
                self._site,
            ).html
            self._html[inputs] = html
            if len(self._html) > self._size:
                self._html.popitem(last=False)
        else:
            self._html.move_to_end(inputs)
        return html

"""Readers that turn what newsrooms send into `khabar_shared.events.Article`.

- `ninjs`: IPTC ninjs 1.x/2.x/3.x documents (what `POST /v1/articles` takes)
- `feeds`: RSS 2.0 and Atom feeds
- `corpus`: the ANT Arabic corpus and ECB+ English files (sample data, imports)

All are pure functions: no I/O beyond reading a file the caller names.
"""

from .errors import FieldError, InvalidArticle, MalformedDocument
from .ids import article_id_from_uri
from .ninjs import Limits, parse_ninjs, parse_ninjs_json

__all__ = [
    "FieldError",
    "InvalidArticle",
    "Limits",
    "MalformedDocument",
    "article_id_from_uri",
    "parse_ninjs",
    "parse_ninjs_json",
]

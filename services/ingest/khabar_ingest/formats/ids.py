"""Article ids: short, URL-safe, and the same every time for the same uri.

The rule (`article_id_from_uri`):

1. A uri that already is a clean slug — ASCII letters and digits in runs joined
   by single `-`, `_` or `.`, at most 120 characters — is its own id,
   lower-cased: `AL-culture-69-20121011` → `al-culture-69-20121011`.
2. Any other uri gets a readable part and a hash:
   `slug(last segment)[:100]` + `-` + the first 12 hex digits of SHA-256(uri),
   e.g. `http://ninjs.example.com/newsitems/20130709simp123` →
   `20130709simp123-<12 hex>`. The last segment is what follows the last `/`
   or `:` (query and fragment ignored). When it holds nothing ASCII
   (an Arabic path) the id is the hash alone.

The hash keeps two different uris with the same last segment (`.../index`)
from ever sharing an id; only the uri decides, so re-sending a document
always lands on the same article.
"""

import hashlib
import re
import unicodedata

from khabar_shared.names import ARTICLE_ID_MAX_LENGTH as MAX_ID_LENGTH
from khabar_shared.names import ARTICLE_ID_PATTERN as _CLEAN

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 100) -> str:
    """ASCII slug of `text`: accents dropped, anything else becomes '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def article_id_from_uri(uri: str) -> str:
    """The article id for a ninjs uri (or feed guid, or corpus docno); see the module doc."""
    lowered = uri.strip().lower()
    if len(lowered) <= MAX_ID_LENGTH and _CLEAN.match(lowered):
        return lowered
    digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:12]
    readable = slugify(_last_segment(uri))
    return f"{readable}-{digest}" if readable else digest


def _last_segment(uri: str) -> str:
    without_query = re.split(r"[?#]", uri, maxsplit=1)[0].rstrip("/:")
    return re.split(r"[/:]", without_query)[-1]

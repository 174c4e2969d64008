"""Make newsroom HTML safe to show, and cut it into sections.

Body HTML comes from outside (newsroom tools, feeds) and is never trusted: it
goes through an allow-list (`nh3`, the Python binding of Rust's ammonia) before
any page shows it. Anything not listed — scripts, event handlers, styles,
frames, forms, SVG, `javascript:`/`data:` URLs — is dropped.

Single URLs that templates put into `href`/`src` (a featured image, a teaser's
picture) do not pass through nh3, so `safe_url` checks them the same way.

Protocol-relative addresses (`//host/x`, and `/\\host/x`, which browsers read
the same way) are refused everywhere: they look like site paths but leave the
site. Pictures come only from the image hosts the operator allows
(`KHABAR_IMAGE_HOSTS`, `ImagePolicy`; the page's Content Security Policy
says the same): a picture from elsewhere (or with no usable `src`) is dropped from a
body, with its figure when that holds no other picture, and a featured picture from
elsewhere is not shown.
"""

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from itertools import pairwise
from urllib.parse import urlsplit

import nh3

ALLOWED_TAGS = {
    "p", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "strong", "em", "b", "i",
    "a", "figure", "figcaption", "img", "br",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
}  # fmt: skip

ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
}

BODY_URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"

# Elements whose text is code or styling, never prose: dropped with their content.
DROPPED_WITH_CONTENT = {
    "script", "style", "template", "noscript", "iframe", "object", "svg", "math",
}  # fmt: skip

ANY_HOST = "*"


class ImagePolicy:
    """Which hosts pictures may come from: exact host names, `*.example.com` for its
    subdomains, or `*` for any web host. Site paths (`/static/x.png`) are always allowed."""

    def __init__(self, hosts: Iterable[str] = (ANY_HOST,)) -> None:
        self.hosts = frozenset(host.strip().lower() for host in hosts if host.strip())

    @classmethod
    def parse(cls, spec: str) -> "ImagePolicy":
        """'cdn.example.com, *.images.example.org' as a policy ('*': any host)."""
        return cls(spec.split(","))

    def allows(self, url: str) -> bool:
        if _is_site_path(url):
            return True
        if ANY_HOST in self.hosts:
            return True
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return False
        return host in self.hosts or any(
            entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.hosts
        )


def _url_filter(policy: ImagePolicy):  # type: ignore[no-untyped-def]
    """nh3's attribute filter: no protocol-relative links, pictures from allowed hosts only."""

    def keep(element: str, attribute: str, value: str) -> str | None:
        if attribute not in ("href", "src"):
            return value
        plain = _URL_TAB_OR_NEWLINE.sub("", value.strip(_URL_ENDS))
        if _is_protocol_relative(plain):
            return None
        if element == "img" and attribute == "src" and not policy.allows(plain):
            return None
        return value

    return keep


def _cleaner(policy: ImagePolicy) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=BODY_URL_SCHEMES,
        link_rel=LINK_REL,
        set_tag_attribute_values={"img": {"loading": "lazy", "decoding": "async"}},
        attribute_filter=_url_filter(policy),
        strip_comments=True,
    )


# The process's one policy: render's app sets it from its settings at start (`use_image_hosts`).
_POLICY = ImagePolicy()
_CLEANER = _cleaner(_POLICY)


def use_image_hosts(policy: ImagePolicy) -> None:
    """Pictures from these hosts only, from now on (bodies sanitized before keep their result)."""
    global _POLICY, _CLEANER
    _POLICY, _CLEANER = policy, _cleaner(policy)


def image_allowed(url: str | None) -> str | None:
    """A picture's address if it is safe and from an allowed host, else None."""
    checked = safe_url(url)
    return checked if checked and _POLICY.allows(checked) else None


SECTION_HEADINGS = {"h2", "h3"}
VOID_ELEMENTS = {
    "br", "img", "hr", "wbr", "area", "base", "col", "embed", "input", "link", "meta", "source",
    "track",
}  # fmt: skip
# Without subheadings, a body is cut into at most this many paragraph groups.
MAX_PARAGRAPH_GROUPS = 5

# What a browser drops before reading a URL (WHATWG URL standard): C0 controls
# and spaces at either end, tabs and newlines anywhere.
_URL_ENDS = "".join(chr(code) for code in range(0x21))
_URL_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")


def _is_protocol_relative(url: str) -> bool:
    """`//host/x` (or `/\\host`, `\\\\host`: a browser reads a backslash as a slash)."""
    return url[:2].replace("\\", "/") == "//"


def _is_site_path(url: str) -> bool:
    return url.startswith("/") and not _is_protocol_relative(url)


def sanitize_body(html: str) -> str:
    """Body HTML with only the allowed tags, attributes and URL schemes left."""
    cleaned = _CLEANER.clean(html).strip()
    return _without_pictureless_images(cleaned) if "<img" in cleaned else cleaned


# nh3's output, as html5ever writes it: every attribute's value double-quoted (a `>` may be
# inside one), names lower-case. An allowed picture with no `src` lost it to the filter
# (another host, `javascript:`) or never had one: a browser shows it as a broken frame.
_IMAGE = re.compile(r'<img(?:\s+[^\s"=>/]+(?:="[^"]*")?)*\s*/?>')
_HAS_SRC = re.compile(r'\ssrc="')
# A figure with no figure inside it (nh3 leaves `figure` no attributes).
_FIGURE = re.compile(r"<figure>((?:(?!<figure>).)*?)</figure>", re.DOTALL)
# Stands where a picture was dropped, until its figure is seen; nh3 writes every `<` of text
# as `&lt;`, so no tag nh3 does not allow is ever in its output.
_DROPPED = "<khabar-dropped-img>"


def _without_pictureless_images(html: str) -> str:
    """`html` without its `<img>`s that have no `src`, and without a figure left with no
    picture by that (its caption would describe nothing)."""
    marked = _IMAGE.sub(lambda m: m.group() if _HAS_SRC.search(m.group()) else _DROPPED, html)
    if _DROPPED not in marked:
        return html
    return _FIGURE.sub(_figure_kept, marked).replace(_DROPPED, "").strip()


def _figure_kept(match: re.Match[str]) -> str:
    inside = match.group(1)
    return "" if _DROPPED in inside and "<img" not in inside else match.group()


def safe_url(url: str | None, allow_mailto: bool = False) -> str | None:
    """The URL if a browser would treat it as http(s) (or a site path), else None."""
    if not url:
        return None
    cleaned = _URL_TAB_OR_NEWLINE.sub("", url.strip(_URL_ENDS))
    lowered = cleaned.lower()
    if lowered.startswith(("http://", "https://")):
        return cleaned
    if allow_mailto and lowered.startswith("mailto:"):
        return cleaned
    if _is_site_path(cleaned):
        return cleaned
    return None


class _TopLevelBlocks(HTMLParser):
    """Finds where each top-level node of an HTML fragment starts, and its tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[tuple[int, int], str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth == 0:
            self.blocks.append((self.getpos(), tag))
        if tag not in VOID_ELEMENTS:
            self._depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth == 0:
            self.blocks.append((self.getpos(), tag))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID_ELEMENTS:
            self._depth = max(0, self._depth - 1)

    def handle_data(self, data: str) -> None:
        if self._depth == 0 and data.strip():
            self.blocks.append((self.getpos(), "#text"))


def _top_level_blocks(html: str) -> list[tuple[int, str]]:
    """(offset, tag) of every top-level node; text runs are tagged '#text'."""
    parser = _TopLevelBlocks()
    parser.feed(html)
    parser.close()
    line_starts = [0] + [match.end() for match in re.finditer("\n", html)]
    return [(line_starts[line - 1] + column, tag) for (line, column), tag in parser.blocks]


def _cut(html: str, offsets: list[int]) -> list[str]:
    bounds = sorted(set(offsets) | {0}) + [len(html)]
    pieces = (html[start:end].strip() for start, end in pairwise(bounds))
    return [piece for piece in pieces if piece]


def _heading_offsets(blocks: list[tuple[int, str]]) -> list[int]:
    """Where sections start: each subheading not directly under another one."""
    offsets = []
    previous = ""
    for offset, tag in blocks:
        if tag in SECTION_HEADINGS and previous not in SECTION_HEADINGS:
            offsets.append(offset)
        previous = tag
    return offsets


def _paragraph_group_offsets(blocks: list[tuple[int, str]]) -> list[int]:
    """Starts of at most five evenly sized groups of top-level blocks."""
    count = len(blocks)
    if count == 0:
        return []
    groups = min(MAX_PARAGRAPH_GROUPS, count)
    return [blocks[round(index * count / groups)][0] for index in range(groups)]


def split_sections(sanitized_html: str) -> list[str]:
    """Cut a sanitized body at its subheadings (h2/h3), each heading opening a section.

    A body without subheadings (or with only one at its top) is cut into at most
    five groups of paragraphs, so inline links still have places between them.
    Joining the sections gives back the body, give or take whitespace.
    """
    blocks = _top_level_blocks(sanitized_html)
    sections = _cut(sanitized_html, _heading_offsets(blocks))
    if len(sections) >= 2:
        return sections
    return _cut(sanitized_html, _paragraph_group_offsets(blocks))

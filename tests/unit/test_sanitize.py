"""Body HTML sanitizing, section splitting, and XSS payloads through the renderer.

Every payload in tests/data/xss_payloads.txt goes through `sanitize_body` and
through a full `render_article` (in the body, and in every plain-text field the
page shows), and the output is parsed to prove nothing executable is left.
"""

import gzip
import html
import json
import re
from datetime import datetime
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

from khabar_render.fragments import (
    Teaser,
    article_page_meta,
    render_article,
    render_category_listing,
    render_home,
    render_page,
    render_related_block,
)
from khabar_render.sanitize import safe_url, sanitize_body, split_sections
from khabar_render.site import default_site
from khabar_shared.events import Article, EnrichedArticle, Image
from tests.support import corpus_file

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS_FILE = ROOT / "tests" / "data" / "xss_payloads.txt"
ANT_CORPUS = corpus_file("ant-arabic-news-2018h1.jsonl.gz")
# "Hidden health risks in your bathroom" (BBC Arabic): five numbered subheads.
BATHROOM_DOCNO = "BB-technology-112-20180329"

FORBIDDEN_ELEMENTS = {
    "script", "iframe", "frame", "object", "embed", "applet", "style", "svg", "math",
    "form", "input", "button", "meta", "base", "link", "template", "noscript",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "background", "srcdoc",
                  "cite", "poster", "xlink:href", "codebase", "dynsrc", "lowsrc"}  # fmt: skip
EXECUTABLE_SCHEMES = ("javascript:", "vbscript:", "data:")
_IGNORED_IN_URLS = re.compile(r"[\x00-\x20\x7f]+")


def load_payloads() -> list[str]:
    lines = PAYLOADS_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


PAYLOADS = load_payloads()


class _Elements(HTMLParser):
    """Every start tag with its attributes (entities already decoded, as a browser does)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, [(name, value or "") for name, value in attrs]))

    handle_startendtag = handle_starttag


def elements_of(markup: str) -> list[tuple[str, list[tuple[str, str]]]]:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    return parser.elements


def url_payloads() -> list[str]:
    """The URLs inside the payloads (as a browser decodes them), plus control-character tricks."""
    urls = {" javascript:alert(1)", "\x01javascript:alert(1)", "java\nscript:alert(1)",
            "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
            "\tdata:image/svg+xml,x"}  # fmt: skip
    for payload in PAYLOADS:
        for _, attrs in elements_of(payload):
            urls.update(value for name, value in attrs if name in URL_ATTRIBUTES and value)
    return sorted(urls)


def executable_url(value: str) -> bool:
    # Decode twice so that even a doubly encoded scheme counts as one.
    for candidate in (value, html.unescape(value)):
        if _IGNORED_IN_URLS.sub("", candidate).lower().startswith(EXECUTABLE_SCHEMES):
            return True
    return False


def problems_in(markup: str, allowed: set[str] = frozenset()) -> list[str]:
    """What in this HTML could run script; empty when it is inert."""
    found = []
    for tag, attrs in elements_of(markup):
        if tag in FORBIDDEN_ELEMENTS - allowed:
            found.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"{name}= on <{tag}>")
            if name == "style":
                found.append(f"style= on <{tag}>")
            if name in URL_ATTRIBUTES and executable_url(value):
                found.append(f"{name}={value!r} on <{tag}>")
    return found


URL_PAYLOADS = url_payloads()


# --- the checker itself must catch what it is there to catch -----------------


@pytest.mark.parametrize(
    "dangerous",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href=" DATA:text/html,x">x</a>',
        '<p style="color:red">x</p>',
        "<svg></svg>",
    ],
)
def test_checker_flags_executable_markup(dangerous: str) -> None:
    assert problems_in(dangerous)


def test_url_payloads_are_executable_urls() -> None:
    assert len([url for url in URL_PAYLOADS if executable_url(url)]) >= 20


def test_payload_file_holds_enough_real_payloads() -> None:
    assert len(PAYLOADS) >= 30
    assert len(set(PAYLOADS)) == len(PAYLOADS)
    # Unsanitized, most payloads would be caught by the checker: they are real attacks.
    caught = [payload for payload in PAYLOADS if problems_in(payload)]
    assert len(caught) >= 0.8 * len(PAYLOADS)


# --- sanitize_body ------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitize_body_leaves_no_executable_markup(payload: str) -> None:
    cleaned = sanitize_body(f"<p>قبل</p>{payload}<p>بعد</p>")
    assert problems_in(cleaned) == []
    assert "قبل" in cleaned and "بعد" in cleaned


def test_sanitize_body_keeps_the_allowed_newsroom_markup() -> None:
    body = (
        "<h2>الشراكة الأمنية</h2><p>قال <strong>بوريل</strong> <em>للصحفيين</em>:</p>"
        "<blockquote>نحن نعيش في عالم خطير</blockquote>"
        '<p><a href="https://www.reuters.com/x" title="رويترز" target="_blank">المصدر</a> '
        '<a href="mailto:desk@example.com">راسلنا</a></p>'
        '<figure><img src="https://img.example/a.jpg" alt="بوريل" width="640" height="360">'
        "<figcaption>طوكيو</figcaption></figure>"
        "<ul><li>أ</li></ul><ol><li>ب</li></ol>"
        "<table><thead><tr><th>البلد</th></tr></thead><tbody><tr><td>اليابان</td></tr></tbody></table>"
    )
    cleaned = sanitize_body(body)
    tags = [tag for tag, _ in elements_of(cleaned)]
    for tag in ("h2", "p", "strong", "em", "blockquote", "a", "figure", "img", "figcaption",
                "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td"):  # fmt: skip
        assert tag in tags, tag
    attributes = {tag: dict(attrs) for tag, attrs in elements_of(cleaned) if tag in ("img",)}
    assert attributes["img"]["loading"] == "lazy"
    assert attributes["img"]["src"] == "https://img.example/a.jpg"
    assert attributes["img"]["width"] == "640"
    links = [dict(attrs) for tag, attrs in elements_of(cleaned) if tag == "a"]
    assert [link["href"] for link in links] == [
        "https://www.reuters.com/x",
        "mailto:desk@example.com",
    ]
    assert all(link["rel"] == "noopener noreferrer nofollow" for link in links)
    assert "target" not in links[0]
    assert links[0]["title"] == "رويترز"


def test_sanitize_body_drops_code_with_its_content_but_keeps_prose() -> None:
    cleaned = sanitize_body(
        "<p>خبر</p><script>var secret = 1;</script><style>p{}</style><div>نص</div>"
    )
    assert "secret" not in cleaned and "p{}" not in cleaned
    assert "<div" not in cleaned and "نص" in cleaned


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://img.example/a.jpg", "https://img.example/a.jpg"),
        (" https://img.example/a b.jpg\n", "https://img.example/a b.jpg"),
        ("\x01javascript:alert(1)", None),
        ("java\nscript:alert(1)", None),
        ("/static/x.png", "/static/x.png"),
        (" javascript:alert(1)", None),
        ("jav\tascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("vbscript:msgbox(1)", None),
        ("mailto:a@example.com", None),
        ("relative/path.jpg", None),
        ("", None),
    ],
)
def test_safe_url_admits_only_http_and_site_paths(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


# --- split_sections -----------------------------------------------------------


def test_split_sections_cuts_at_subheadings() -> None:
    body = sanitize_body(
        "<p>مقدمة</p><h2>الأول</h2><p>أ</p><p>ب</p><h3>الثاني</h3><p>ج</p><h2>الثالث</h2><p>د</p>"
    )
    sections = split_sections(body)
    assert sections == [
        "<p>مقدمة</p>",
        "<h2>الأول</h2><p>أ</p><p>ب</p>",
        "<h3>الثاني</h3><p>ج</p>",
        "<h2>الثالث</h2><p>د</p>",
    ]
    assert "".join(sections) == body


def test_split_sections_keeps_stacked_headings_together() -> None:
    sections = split_sections("<p>أ</p><h2>عنوان</h2><h3>فرعي</h3><p>ب</p>")
    assert sections == ["<p>أ</p>", "<h2>عنوان</h2><h3>فرعي</h3><p>ب</p>"]


def test_split_sections_ignores_headings_nested_in_other_blocks() -> None:
    sections = split_sections(
        "<p>أ</p><blockquote><h2>داخل</h2></blockquote><p>ب</p><h2>خارج</h2><p>ج</p>"
    )
    assert sections[0] == "<p>أ</p><blockquote><h2>داخل</h2></blockquote><p>ب</p>"
    assert sections[1] == "<h2>خارج</h2><p>ج</p>"


def test_split_sections_groups_paragraphs_without_subheadings() -> None:
    body = "".join(f"<p>فقرة {number}</p>" for number in range(11))
    sections = split_sections(body)
    assert len(sections) == 5
    assert all(section.count("<p>") >= 2 for section in sections)
    assert "".join(sections) == body


def test_split_sections_of_short_or_empty_bodies() -> None:
    assert split_sections("") == []
    assert split_sections("<p>وحيدة</p>") == ["<p>وحيدة</p>"]
    assert split_sections("<p>أ</p><p>ب</p><p>ج</p>") == ["<p>أ</p>", "<p>ب</p>", "<p>ج</p>"]


# --- payloads through the whole article renderer --------------------------------


@cache
def corpus_record(docno: str) -> dict:
    with gzip.open(ANT_CORPUS, "rt", encoding="utf-8") as lines:
        for line in lines:
            if f'"{docno}"' in line:
                record = json.loads(line)
                if record["docno"] == docno:
                    return record
    raise LookupError(docno)


def article_with(**fields: str) -> EnrichedArticle:
    """The real bathroom article, with some of its fields replaced."""
    record = corpus_record(BATHROOM_DOCNO)
    paragraphs = "".join(
        f"<p>{html.escape(line)}</p>" for line in record["text"].splitlines() if line.strip()
    )
    image = Image(
        href=fields.pop("image_href", "https://img.example/bath.jpg"),
        alt=fields.pop("alt", "حمام"),
        caption=fields.pop("caption", "ألعاب الأطفال"),
        credit=fields.pop("credit", "بي بي سي"),
    )
    article = Article(
        id=record["docno"],
        uri=record["url"],
        language="ar",
        headline=record["title"],
        lead=record["abstract"],
        body_html=paragraphs,
        category=record["categories"][0],
        versioncreated=datetime.fromisoformat(record["published"]),
        featured_image=image,
    ).model_copy(update=fields)
    return EnrichedArticle(
        article=article, version=1, enriched_at=datetime.fromisoformat(record["published"])
    )


def see_also_with(headline: str) -> list[Teaser]:
    return [
        Teaser(id=f"other-{number}", headline=headline if number == 0 else f"خبر {number}",
               published=datetime(2018, 3, 28), image=Image(href="https://img.example/x.jpg"))
        for number in range(4)
    ]  # fmt: skip


FIELDS = ["body_html", "headline", "lead", "byline", "category", "caption", "credit", "alt",
          "image_href", "see_also"]  # fmt: skip


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_render_article_leaves_no_executable_markup(payload: str, field: str) -> None:
    site = default_site()
    if field == "see_also":
        fragment = render_article(article_with(), see_also_with(payload), site)
    elif field == "body_html":
        enriched = article_with()
        enriched.article.body_html = enriched.article.body_html + payload
        fragment = render_article(enriched, see_also_with("خبر"), site)
    else:
        fragment = render_article(article_with(**{field: payload}), see_also_with("خبر"), site)
    assert problems_in(fragment.html) == []


@pytest.mark.parametrize("url", URL_PAYLOADS)
def test_article_picture_with_an_executable_url_is_left_out(url: str) -> None:
    fragment = render_article(article_with(image_href=url), [], default_site())
    assert problems_in(fragment.html) == []
    assert "<img" not in fragment.html or not executable_url(url)


@pytest.mark.parametrize("url", URL_PAYLOADS)
def test_card_picture_with_an_executable_url_is_left_out(url: str) -> None:
    teaser = Teaser(
        id="x", headline="خبر", published=datetime(2018, 3, 28), image=Image(href=url, alt="صورة")
    )
    fragment = render_related_block([teaser], [], default_site())
    assert problems_in(fragment.html) == []
    assert "/articles/x" in fragment.html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_cards_leave_no_executable_markup(payload: str) -> None:
    site = default_site()
    teasers = [
        Teaser(id=payload, headline=payload, teaser=payload, category=payload, language="ar",
               published=datetime(2018, 3, 28),
               image=Image(href=payload, alt=payload, caption=payload)),
        Teaser(id="plain", headline="خبر", published=datetime(2018, 3, 27),
               image=Image(href=f"https://img.example/{payload}")),
    ]  # fmt: skip
    for fragment in (
        render_related_block(teasers, [], site),
        render_category_listing(payload, teasers, 1, 2, site),
        render_home({payload: teasers}, site),
    ):
        assert problems_in(fragment.html) == []
        assert fragment.shows == [payload, "plain"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_whole_page_allows_only_its_own_json_ld_script(payload: str) -> None:
    site = default_site()
    enriched = article_with(headline=payload, lead=payload, image_href=payload)
    page = render_page(payload, [render_article(enriched, [], site)], "ar", "rtl",
                       "https://khabar.example/articles/x", article_page_meta(enriched, site),
                       site)  # fmt: skip
    assert problems_in(page, allowed={"script", "meta", "link", "form", "input", "button"}) == []
    scripts = [dict(attrs) for tag, attrs in elements_of(page) if tag == "script"]
    assert scripts == [{"type": "application/ld+json"}]
    # The one form is the site's own search box.
    forms = [dict(attrs) for tag, attrs in elements_of(page) if tag == "form"]
    assert forms == [
        {"class": "site-search", "action": "/search", "method": "get", "role": "search"}
    ]
    json_ld = page.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in json_ld and ">" not in json_ld
    assert json.loads(json_ld)["headline"] == payload


def test_template_syntax_in_article_text_is_shown_not_evaluated() -> None:
    fragment = render_article(
        article_with(headline="{{7*7}} {% if 1 %}x{% endif %}"), [], default_site()
    )
    assert "{{7*7}} {% if 1 %}x{% endif %}" in html.unescape(fragment.html)
    assert ">49 " not in fragment.html


def test_protocol_relative_addresses_leave_the_site_and_are_refused() -> None:
    from khabar_render.sanitize import safe_url, sanitize_body

    for url in ("//evil.example/x", " //evil.example/x", "/\\evil.example/x", "\\\\evil.example"):
        assert safe_url(url) is None, url
    cleaned = sanitize_body(
        '<p><a href="//evil.example/x">a</a> <a href="/\\evil.example">b</a>'
        ' <a href="/articles/1">c</a></p><img src="//evil.example/i.png">'
    )
    assert "evil.example" not in cleaned and 'href="/articles/1"' in cleaned


def test_pictures_come_from_the_allowed_hosts_only() -> None:
    from khabar_render import sanitize

    policy = sanitize.ImagePolicy.parse("cdn.example.com, *.img.example.org")
    assert policy.allows("https://cdn.example.com/a.jpg")
    assert policy.allows("https://eu.img.example.org/a.jpg")
    assert policy.allows("/static/logo.png")
    assert not policy.allows("https://cdn.example.com.evil.example/a.jpg")
    assert not policy.allows("https://img.example.org.evil/a.jpg")
    before = sanitize._POLICY
    try:
        sanitize.use_image_hosts(policy)
        cleaned = sanitize.sanitize_body(
            '<img src="https://other.example/a.jpg" alt="x">'
            '<img src="https://cdn.example.com/b.jpg" alt="y">'
        )
        assert "other.example" not in cleaned and "https://cdn.example.com/b.jpg" in cleaned
        assert sanitize.image_allowed("https://other.example/a.jpg") is None
    finally:
        sanitize.use_image_hosts(before)


def test_a_picture_whose_src_is_stripped_is_dropped_with_its_emptied_figure() -> None:
    """A picture from a host not allowed (or with a `javascript:` src) lost its `src` and stayed
    as an empty `<img>`, a broken frame with its caption under it; now it goes, and a figure
    left with no picture goes with it (a figure of a quote, never with a picture, stays)."""
    from khabar_render import sanitize

    before = sanitize._POLICY
    try:
        sanitize.use_image_hosts(sanitize.ImagePolicy.parse("cdn.example.com"))
        cleaned = sanitize.sanitize_body(
            '<p>a <img src="javascript:alert(1)" alt="x>y"> b</p>'
            '<figure><img src="https://other.example/a.jpg" alt="x">'
            "<figcaption>صورة</figcaption></figure>"
            '<figure><img src="https://other.example/a.jpg">'
            '<img src="https://cdn.example.com/b.jpg"><figcaption>kept</figcaption></figure>'
            "<figure><blockquote>q</blockquote><figcaption>quote</figcaption></figure>"
        )
    finally:
        sanitize.use_image_hosts(before)
    images = [dict(attrs) for tag, attrs in elements_of(cleaned) if tag == "img"]
    assert [image.get("src") for image in images] == ["https://cdn.example.com/b.jpg"], cleaned
    assert "صورة" not in cleaned and "kept" in cleaned and "quote" in cleaned
    assert cleaned.startswith("<p>a  b</p>"), cleaned

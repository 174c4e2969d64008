"""What the render fragments and pages show, on real corpus articles.

Arabic: BBC Arabic's "hidden health risks in your bathroom" (five numbered
subheads) with the technology stories of the day before as related stories.
English: an ECB+ article about Lindsay Lohan entering rehab.
"""

import gzip
import html
import json
import re
from datetime import datetime, timedelta
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from khabar_render.fragments import (
    ENVIRONMENT,
    Fragment,
    PageMeta,
    Teaser,
    article_page_meta,
    render_article,
    render_article_page,
    render_category_listing,
    render_home,
    render_page,
    render_related_block,
    render_teaser_card,
    teaser_from_enriched,
)
from khabar_render.site import Site, default_site
from khabar_shared.events import Article, Correction, EnrichedArticle, Image
from tests.support import corpus_file

ROOT = Path(__file__).resolve().parents[2]
ANT = corpus_file("ant-arabic-news-2018h1.jsonl.gz")
ECB = corpus_file("ecbplus-english-events-topics01-20.jsonl.gz")
STYLESHEET = ROOT / "services" / "render" / "khabar_render" / "static" / "site.css"

BATHROOM = "BB-technology-112-20180329"  # five numbered subheads
ALZHEIMER_DRUG = "SK-technology-25-20180214"  # no subheads, twelve paragraphs
RELATED_DAY = "2018-03-28"  # technology stories of the day before the bathroom one
LOHAN_REHAB = "1_10ecbplus.xml"

ARABIC_MONTHS = ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس",
                 "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"]  # fmt: skip
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-")


# --- corpus to model (the official corpus reader lives with ingest) ----------


@cache
def ant_records() -> dict[str, dict]:
    """The articles these tests use, read once from the ANT corpus."""
    wanted: dict[str, dict] = {}
    with gzip.open(ANT, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            on_related_day = record["published"].startswith(RELATED_DAY)
            if record["docno"] in (BATHROOM, ALZHEIMER_DRUG) or (
                on_related_day and "technology" in record["categories"]
            ):
                wanted[record["docno"]] = record
    return wanted


def is_subhead(line: str) -> bool:
    """Short lines without closing punctuation are the outlets' subheads."""
    return len(line) < 60 and not line.endswith((".", "؟", "!", ":", '"', "»"))


def body_html(lines: list[str]) -> str:
    return "".join(
        f"<h2>{html.escape(line)}</h2>" if is_subhead(line) else f"<p>{html.escape(line)}</p>"
        for line in lines
    )


def enriched_from_ant(record: dict) -> EnrichedArticle:
    lines = [line.strip() for line in record["text"].splitlines() if line.strip()]
    published = datetime.fromisoformat(record["published"])
    author = record["author"] or ""
    article = Article(
        id=record["docno"],
        uri=record["url"],
        url=record["url"],
        language="ar",
        headline=record["title"],
        lead=record["abstract"] or "",
        body_html=body_html(lines),
        byline="" if UUID.match(author) else author,
        category=record["categories"][0],
        source=record["source"],
        versioncreated=published,
        # The corpus has no pictures: a made-up address with the real headline as alt text.
        featured_image=Image(
            href=f"https://images.khabar.example/{record['docno']}.jpg",
            alt=record["title"],
            caption=lines[0][:120] if lines else "",
            credit=record["source"],
            width=1200,
            height=675,
        ),
    )
    return EnrichedArticle(article=article, version=1, topic="", enriched_at=published)


def enriched_from_ecb(doc: str) -> EnrichedArticle:
    with gzip.open(ECB, "rt", encoding="utf-8") as lines:
        record = next(json.loads(line) for line in lines if f'"{doc}"' in line)
    sentences = record["sentences"]
    published = datetime.strptime(sentences[2], "%B %d, %Y")
    article = Article(
        id=doc.removesuffix(".xml"),
        uri=f"ecbplus:{doc}",
        language="en",
        headline=sentences[1],
        lead=sentences[3],
        body_html="".join(f"<p>{html.escape(sentence)}</p>" for sentence in sentences[3:]),
        category="entertainment",
        versioncreated=published,
    )
    return EnrichedArticle(article=article, version=1, enriched_at=published)


def related_teasers() -> list[Teaser]:
    records = sorted(
        (r for r in ant_records().values() if r["published"].startswith(RELATED_DAY)),
        key=lambda r: r["published"],
    )
    return [teaser_from_enriched(enriched_from_ant(record)) for record in records]


@pytest.fixture
def site() -> Site:
    return default_site(base_url="https://khabar.example")


@pytest.fixture
def bathroom() -> EnrichedArticle:
    return enriched_from_ant(ant_records()[BATHROOM])


# --- a small DOM for assertions ------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: "Node | None") -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text_parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.text_parts + [child.text for child in self.children]).strip()

    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def iter(self):
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(
        self, tag: str | None = None, cls: str | None = None, **attrs: str
    ) -> list["Node"]:
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag)
            and (cls is None or cls in node.classes())
            and all(
                node.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items()
            )
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> "Node":
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]


VOID = {"meta", "link", "img", "br", "input", "hr", "source"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.text_parts.append(data)


def parse(markup: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


# --- the article fragment -----------------------------------------------------


def test_arabic_article_is_right_to_left_with_its_real_headline(bathroom, site) -> None:
    fragment = render_article(bathroom, related_teasers(), site)
    root = parse(fragment.html).find("article", cls="article")
    assert (root.attrs["lang"], root.attrs["dir"]) == ("ar", "rtl")
    assert root.find("h1").text == "المخاطر الصحية المخفية في حمام منزلك"
    assert root.find("p", cls="lead").text == ant_records()[BATHROOM]["abstract"]
    subheads = [node.text for node in root.find("div", cls="article-body").find_all("h2")]
    assert subheads[:2] == [
        "1- العاب الأطفال وقت الاستحمام والبط المطاطي",
        "2- مقاعد الأطفال المخصصة للاستحمام",
    ]


def test_four_see_also_links_to_different_stories_between_sections(bathroom, site) -> None:
    teasers = related_teasers()
    fragment = render_article(bathroom, teasers, site)
    body = parse(fragment.html).find("div", cls="article-body")
    order = [("link" if "see-also" in node.classes() else "section") for node in body.children]
    links = body.find_all("p", cls="see-also")

    assert len(links) == 4
    hrefs = [link.find("a").attrs["href"] for link in links]
    assert hrefs == [f"/articles/{teaser.id}" for teaser in teasers[:4]]
    assert len(set(hrefs)) == 4
    assert all(link.text.startswith("شاهد ايضاً:") for link in links)
    assert [link.find("a").text for link in links] == [teaser.headline for teaser in teasers[:4]]
    # Each link sits between two body sections: never first, never last, never two in a row.
    assert order[0] == "section" and order[-1] == "section"
    assert "link,link" not in ",".join(order)
    assert fragment.shows == [BATHROOM, *[teaser.id for teaser in teasers[:4]]]


def test_see_also_skips_the_article_itself_and_repeats(bathroom, site) -> None:
    teasers = related_teasers()
    itself = teaser_from_enriched(bathroom)
    ranked = [
        itself,
        teasers[0],
        teasers[0],
        teasers[1],
        itself,
        teasers[2],
        teasers[3],
        teasers[4],
    ]
    fragment = render_article(bathroom, ranked, site)
    assert fragment.shows == [BATHROOM, teasers[0].id, teasers[1].id, teasers[2].id, teasers[3].id]


def test_body_without_subheads_gets_links_between_paragraph_groups(site) -> None:
    record = ant_records()[ALZHEIMER_DRUG]
    enriched = enriched_from_ant(record)
    assert "<h2>" not in enriched.article.body_html
    body = parse(render_article(enriched, related_teasers(), site).html).find(
        "div", cls="article-body"
    )
    kinds = ["link" if "see-also" in node.classes() else "section" for node in body.children]
    assert kinds.count("link") == 4
    assert kinds[0] == "section" and kinds[-1] == "section"
    paragraphs = [p.text for p in body.find_all("p") if "see-also" not in p.classes()]
    first_line = record["text"].splitlines()[0].strip()
    assert paragraphs[0] == first_line


def test_a_short_body_still_shows_every_link_it_was_given(bathroom, site) -> None:
    bathroom.article.body_html = "<p>فقرة أولى</p><p>فقرة ثانية</p>"
    teasers = related_teasers()
    body = parse(render_article(bathroom, teasers, site).html).find("div", cls="article-body")
    kinds = ["link" if "see-also" in node.classes() else "section" for node in body.children]
    assert kinds == ["section", "link", "section", "link", "link", "link"]


def test_featured_image_caption_credit_and_lazy_loading(bathroom, site) -> None:
    figure = parse(render_article(bathroom, [], site).html).find("figure", cls="featured")
    image = figure.find("img")
    assert image.attrs["src"] == f"https://images.khabar.example/{BATHROOM}.jpg"
    assert image.attrs["alt"] == "المخاطر الصحية المخفية في حمام منزلك"
    assert image.attrs["loading"] == "lazy"
    assert (image.attrs["width"], image.attrs["height"]) == ("1200", "675")
    caption = figure.find("figcaption")
    assert caption.text.startswith(bathroom.article.featured_image.caption)
    assert caption.find("span", cls="credit").text == "[BBC]"


def test_time_is_machine_readable_and_in_arabic_words_and_digits(bathroom, site) -> None:
    published = bathroom.article.versioncreated
    time = parse(render_article(bathroom, [], site).html).find("time")
    assert datetime.fromisoformat(time.attrs["datetime"]) == published
    western = f"{published.day} {ARABIC_MONTHS[published.month - 1]} {published.year}"
    assert western.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) in time.text
    assert not re.search(r"[0-9]", time.text)

    plain = default_site(arabic_digits=False)
    assert western in parse(render_article(bathroom, [], plain).html).find("time").text


def test_time_is_shown_in_the_sites_zone(bathroom) -> None:
    # 00:20 UTC on 29 March is still 28 March in New York.
    time = parse(render_article(bathroom, [], default_site(timezone="America/New_York")).html).find(
        "time"
    )
    assert "٢٨ مارس" in time.text
    assert datetime.fromisoformat(time.attrs["datetime"]) == bathroom.article.versioncreated


def test_category_link_uses_the_section_slug_and_its_label(bathroom, site) -> None:
    category = parse(render_article(bathroom, [], site).html).find("p", cls="article-category")
    assert category.text.startswith("التصنيف:")
    assert (category.find("a").attrs["href"], category.find("a").text) == (
        "/category/technology",
        "تكنولوجيا",
    )

    bathroom.article.category = "internationalNews"  # the corpus's name for world news
    link = (
        parse(render_article(bathroom, [], site).html).find("p", cls="article-category").find("a")
    )
    assert (link.attrs["href"], link.text) == ("/category/world", "العالم")

    bathroom.topic = "health"  # the newsroom's filing wins over enrich's topic
    link = (
        parse(render_article(bathroom, [], site).html).find("p", cls="article-category").find("a")
    )
    assert (link.attrs["href"], link.text) == ("/category/world", "العالم")

    bathroom.article.category = ""  # enrich's topic only when the newsroom sent none
    link = (
        parse(render_article(bathroom, [], site).html).find("p", cls="article-category").find("a")
    )
    assert (link.attrs["href"], link.text) == ("/category/health", "صحة")


def test_share_links_carry_the_encoded_canonical_url_and_headline(bathroom, site) -> None:
    share = parse(render_article(bathroom, [], site).html).find("nav", cls="share")
    canonical = f"https://khabar.example/articles/{BATHROOM}"
    hrefs = {link.attrs["class"]: link.attrs["href"] for link in share.find_all("a")}
    assert set(hrefs) == {
        "share-facebook",
        "share-x",
        "share-linkedin",
        "share-email",
        "share-whatsapp",
        "share-telegram",
    }
    encoded = quote(canonical, safe="")
    assert all(encoded in href for href in hrefs.values())
    assert parse_qs(urlsplit(hrefs["share-facebook"]).query)["u"] == [canonical]
    assert parse_qs(urlsplit(hrefs["share-linkedin"]).query)["url"] == [canonical]
    x_query = parse_qs(urlsplit(hrefs["share-x"]).query)
    assert (x_query["url"], x_query["text"]) == ([canonical], [bathroom.article.headline])
    email = urlsplit(hrefs["share-email"])
    assert email.scheme == "mailto"
    assert parse_qs(email.query) == {"subject": [bathroom.article.headline], "body": [canonical]}
    assert " " not in hrefs["share-email"]
    whatsapp = urlsplit(hrefs["share-whatsapp"])
    assert whatsapp.netloc == "wa.me"
    assert parse_qs(whatsapp.query)["text"] == [f"{bathroom.article.headline} {canonical}"]
    telegram = urlsplit(hrefs["share-telegram"])
    assert telegram.netloc == "t.me" and telegram.path == "/share/url"
    assert parse_qs(telegram.query) == {"url": [canonical], "text": [bathroom.article.headline]}


def test_english_article_is_left_to_right_with_english_words(site) -> None:
    enriched = enriched_from_ecb(LOHAN_REHAB)
    fragment = render_article(enriched, related_teasers()[:2], site)
    root = parse(fragment.html).find("article", cls="article")
    assert (root.attrs["lang"], root.attrs["dir"]) == ("en", "ltr")
    assert root.find("h1").text == "Lindsay Lohan checks into Betty Ford Center"
    assert root.find("p", cls="article-category").text.startswith("Category:")
    assert root.find("p", cls="article-category").find("a").text == "Entertainment"
    assert root.find("nav", cls="share").find("span").text == "Share:"
    assert "3 May 2013" in root.find("time").text
    see_also = root.find_all("p", cls="see-also")
    assert [link.find("span").text for link in see_also] == ["See also:", "See also:"]
    # An Arabic story linked from an English page keeps its own direction.
    assert see_also[0].find("a").attrs["dir"] == "rtl"

    block = parse(render_related_block(related_teasers(), fragment.shows, site, lang="en").html)
    assert block.find("h2").text == "Related news"


# --- related block, cards, listings, home -----------------------------------


def test_related_block_leaves_out_the_inline_links(bathroom, site) -> None:
    teasers = related_teasers()
    article = render_article(bathroom, teasers, site)
    block = render_related_block(teasers, article.shows, site)
    root = parse(block.html).find("section", cls="related")
    assert root.find("h2").text == "أخبار ذات صلة"
    cards = root.find_all("article", cls="card")
    assert len(cards) == 4
    shown = [card.attrs["data-article-id"] for card in cards]
    assert shown == [teaser.id for teaser in teasers[4:8]]
    assert not set(shown) & set(article.shows)
    assert block.shows == shown


def test_related_block_with_nothing_left_is_empty(site) -> None:
    teasers = related_teasers()[:3]
    assert render_related_block(teasers, [t.id for t in teasers], site) == Fragment(
        html="", shows=[]
    )


def test_teaser_card_shows_picture_headline_teaser_and_category(site) -> None:
    teaser = related_teasers()[0]
    card = parse(render_teaser_card(teaser, site).html).find("article", cls="card")
    assert card.find("h3").find("a").attrs["href"] == f"/articles/{teaser.id}"
    assert card.find("h3").text == teaser.headline
    assert card.find("p", cls="card-teaser").text == teaser.teaser
    assert card.find("a", cls="category-link").text == "تكنولوجيا"
    image = card.find("img")
    assert (image.attrs["loading"], image.attrs["alt"]) == ("lazy", teaser.headline)


def test_ids_are_escaped_in_addresses(site) -> None:
    teaser = Teaser(id="a/b c?d", headline="خبر", published=datetime(2018, 3, 28))
    link = parse(render_teaser_card(teaser, site).html).find("h3").find("a")
    assert link.attrs["href"] == "/articles/a%2Fb%20c%3Fd"


def test_category_listing_is_latest_first_with_pagination(site) -> None:
    teasers = related_teasers()[:6]
    shuffled = teasers[3:] + teasers[:3]
    listing = parse(render_category_listing("technology", shuffled, 2, 3, site).html)
    assert listing.find("h1").text == "تكنولوجيا"
    ids = [card.attrs["data-article-id"] for card in listing.find_all("article", cls="card")]
    newest_first = sorted(teasers, key=lambda teaser: teaser.published, reverse=True)
    assert ids == [teaser.id for teaser in newest_first]
    nav = listing.find("nav", cls="pagination")
    assert nav.find("a", rel="prev").attrs["href"] == "/category/technology"
    assert nav.find("a", rel="next").attrs["href"] == "/category/technology?page=3"
    assert nav.find("span", cls="page-count").text == "صفحة ٢ من ٣"

    first = parse(render_category_listing("technology", teasers, 1, 3, site).html)
    assert first.find_all("a", rel="prev") == []
    last = parse(render_category_listing("technology", teasers, 3, 3, site).html)
    assert last.find_all("a", rel="next") == []
    assert last.find("a", rel="prev").attrs["href"] == "/category/technology?page=2"


def test_home_shows_sections_in_navigation_order(site) -> None:
    teasers = related_teasers()
    home = render_home(
        {"technology": teasers[:6], "sport": teasers[6:9], "health": []}, site, per_section=4
    )
    sections = parse(home.html).find_all("section", cls="home-section")
    assert [section.attrs["data-category"] for section in sections] == ["sport", "technology"]
    assert [section.find("h2").text for section in sections] == ["رياضة", "تكنولوجيا"]
    assert sections[1].find("h2").find("a").attrs["href"] == "/category/technology"
    technology = [
        card.attrs["data-article-id"] for card in sections[1].find_all("article", cls="card")
    ]
    newest = sorted(teasers[:6], key=lambda teaser: teaser.published, reverse=True)[:4]
    assert technology == [teaser.id for teaser in newest]
    assert sorted(home.shows) == sorted([t.id for t in teasers[6:9]] + technology)


# --- the whole page -------------------------------------------------------------


def test_article_page_head_and_chrome(bathroom, site) -> None:
    teasers = related_teasers()
    page = render_article_page(bathroom, teasers[:4], teasers[4:], site)
    root = parse(page.html)
    document = root.find("html")
    assert (document.attrs["lang"], document.attrs["dir"]) == ("ar", "rtl")
    assert page.html.startswith("<!doctype html>")
    canonical = f"https://khabar.example/articles/{BATHROOM}"
    assert root.find("link", rel="canonical").attrs["href"] == canonical
    assert [link.attrs["href"] for link in root.find_all("link", rel="stylesheet")] == [
        "/static/site.css"
    ]
    assert "width=device-width" in root.find("meta", name="viewport").attrs["content"]
    og = {
        meta.attrs["property"]: meta.attrs["content"]
        for meta in root.find_all("meta")
        if "property" in meta.attrs
    }
    assert og["og:title"] == bathroom.article.headline
    assert og["og:description"] == bathroom.article.lead
    assert og["og:image"] == f"https://images.khabar.example/{BATHROOM}.jpg"
    assert (og["og:type"], og["og:url"], og["og:locale"]) == ("article", canonical, "ar_AR")
    assert root.find("title").text == f"{bathroom.article.headline} | خبر"

    nav = root.find("nav", cls="site-nav")
    labels = [link.text for link in nav.find_all("a")]
    assert labels == [
        "الرئيسية",
        "أخبار",
        "سياسة",
        "أعمال",
        "رياضة",
        "العالم",
        "تكنولوجيا",
        "اقتصاد",
        "صحة",
        "تسلية",
    ]
    assert nav.find("a", aria_current="page").text == "تكنولوجيا"
    assert root.find("a", cls="logo").text == "خبر"
    main = root.find("main")
    assert [child.attrs["class"] for child in main.children] == ["article", "related"]
    assert page.shows == [BATHROOM, *[t.id for t in teasers[:8]]]


def test_json_ld_is_a_news_article_that_parses(bathroom, site) -> None:
    bathroom.article.headline = 'المخاطر "الصحية" </script><b>في</b> & حمامك'
    bathroom.article.byline = "بي بي سي"
    page = render_page(bathroom.article.headline, [render_article(bathroom, [], site)], "ar", "rtl",
                       "https://khabar.example/articles/x", article_page_meta(bathroom, site),
                       site)  # fmt: skip
    script = page.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in script and ">" not in script and "&" not in script
    data = json.loads(script)
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == bathroom.article.headline
    assert data["inLanguage"] == "ar"
    assert data["articleSection"] == "تكنولوجيا"
    assert data["author"] == [{"@type": "Person", "name": "بي بي سي"}]
    assert data["image"] == [f"https://images.khabar.example/{BATHROOM}.jpg"]
    assert datetime.fromisoformat(data["datePublished"]) == bathroom.article.versioncreated
    assert datetime.fromisoformat(data["dateModified"]) == bathroom.article.versioncreated


def test_pages_that_are_not_articles_have_no_json_ld(site) -> None:
    home = render_home({"technology": related_teasers()}, site)
    page = render_page("الرئيسية", [home], "ar", "rtl", "https://khabar.example/",
                       PageMeta(is_home=True), site)  # fmt: skip
    root = parse(page)
    assert root.find_all("script") == []
    assert root.find("meta", property="og:type").attrs["content"] == "website"
    assert root.find("nav", cls="site-nav").find("a", aria_current="page").text == "الرئيسية"


# --- templates and stylesheet ------------------------------------------------


def test_environment_autoescapes_every_template() -> None:
    for name in ("page.html", "article.html", "fragment.j2", "x.xml"):
        assert ENVIRONMENT.autoescape(name) is True
    assert ENVIRONMENT.from_string("{{ value }}").render(value="<b>") == "&lt;b&gt;"
    assert set(ENVIRONMENT.list_templates()) >= {
        "page.html",
        "article.html",
        "related.html",
        "category.html",
    }


def test_stylesheet_is_mobile_first_direction_neutral_and_self_contained() -> None:
    css = STYLESHEET.read_text(encoding="utf-8")
    assert not re.search(r"\b(margin|padding|border)-(left|right)\b", css)
    assert not re.search(r"\b(left|right)\s*:", css)
    assert "text-align: left" not in css and "text-align: right" not in css
    assert "margin-inline" in css and "padding-inline-start" in css and "border-inline-start" in css
    assert '"Noto Naskh Arabic", "Noto Sans Arabic"' in css and "DejaVu Sans" in css
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    # Mobile first: wider layouts are added with min-width queries only.
    assert re.findall(r"@media \((min|max)-width", css) and "max-width" not in css


def test_an_english_articles_corrections_and_update_are_in_english(site) -> None:
    enriched = enriched_from_ecb(LOHAN_REHAB)
    published = enriched.article.versioncreated
    enriched.article.firstcreated = published
    enriched.article.versioncreated = published + timedelta(hours=3)
    enriched.article.corrections = [
        Correction(
            version=2,
            accepted_at=published + timedelta(hours=2),
            note="An earlier version misnamed the venue.",
        )
    ]
    enriched.version = 3
    page = parse(render_article(enriched, [], site).html)
    foot = page.find("aside", cls="corrections")
    assert foot.find("h2").text == "Corrections"
    (note,) = foot.find_all("li", cls="correction")
    assert "An earlier version misnamed the venue." in note.text
    assert (
        note.find("time").attrs["datetime"]
        == site.local_time(published + timedelta(hours=2)).isoformat()
    )
    assert page.find("span", cls="updated").text.startswith("Updated")

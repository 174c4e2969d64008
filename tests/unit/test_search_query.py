"""The reader's query as Meilisearch requests, and Meilisearch's answer as the API's result."""

from datetime import date

from khabar_search.query import (
    SearchParams,
    SearchResult,
    build_filters,
    build_request,
    documents_request,
    merge_answers,
    result_fields,
    stems_query,
    to_result,
)
from khabar_search.ratelimit import RateLimiter
from khabar_shared.text import analyze


def test_clitic_forms_reduce_to_the_stems_enrich_indexes() -> None:
    assert stems_query("والحكومة") == stems_query("حكومة") == stems_query("الحكومة")
    assert stems_query("اللاجئون") == stems_query("لاجئ") == stems_query("للاجئين")


def test_one_request_of_words_and_stems_each_up_to_the_page_asked() -> None:
    body = build_request(SearchParams(q="والحكومة البريطانية", page=3, per_page=20), "articles")
    words, stems = body["queries"]
    assert (
        words["q"] == "والحكومة البريطانية" and "search_text" not in words["attributesToSearchOn"]
    )
    assert stems["attributesToSearchOn"] == ["search_text"] and "حكوم" in stems["q"].split()
    assert words["locales"] == ["ara"]
    assert all(
        q["offset"] == 0 and q["limit"] == 60 and q["showRankingScore"] for q in (words, stems)
    )
    assert "sort" not in words


def hit(article_id: str, score: float, published: int = 0) -> dict:
    return {"id": article_id, "_rankingScore": score, "published": published}


def test_merge_ranks_by_weighted_score_keeps_each_article_once_and_pages() -> None:
    words = {
        "hits": [hit("a", 0.9), hit("b", 0.5)],
        "estimatedTotalHits": 2,
        "facetDistribution": {"category": {"world": 2}},
    }
    stems = {
        "hits": [hit("c", 0.95), hit("a", 0.99), hit("d", 0.4)],
        "estimatedTotalHits": 3,
        "facetDistribution": {"category": {"world": 1, "sport": 2}},
    }
    first = merge_answers(SearchParams(q="x", per_page=2), [words, stems])
    # a: max(0.9, 0.99 × 0.9 = 0.891) = 0.9; c: 0.95 × 0.9 = 0.855; b: 0.5; d: 0.36
    assert [h["id"] for h in first["hits"]] == ["a", "c"]
    second = merge_answers(SearchParams(q="x", per_page=2, page=2), [words, stems])
    assert [h["id"] for h in second["hits"]] == ["b", "d"]
    assert first["estimatedTotalHits"] == 3
    assert first["facetDistribution"] == {"category": {"world": 2, "sport": 2}}


def test_a_hit_lifted_by_its_headline_is_not_shown_twice_across_pages() -> None:
    """The headline bonus reorders only what every page fetches (each query's first page), so
    page 2, which fetches deeper, neither repeats a hit of page 1 nor skips one."""
    q = "رهينة محررة"
    about = " ".join(analyze(q))
    ranked = [hit(f"h{n}", 0.9 - n / 100) for n in range(6)]
    ranked[3]["headline_terms"] = about  # fourth by Meilisearch, every word in its headline

    def page(number: int) -> list[str]:
        fetched = {"hits": ranked[: number * 2]}  # what a query of page `number` brings
        answer = merge_answers(SearchParams(q=q, per_page=2, page=number), [fetched])
        return [h["id"] for h in answer["hits"]]

    shown = [*page(1), *page(2), *page(3)]
    assert sorted(shown) == [f"h{n}" for n in range(6)]


def test_merge_for_newest_orders_by_publication_time() -> None:
    words = {"hits": [hit("old", 0.9, published=100), hit("new", 0.1, published=300)]}
    stems = {"hits": [hit("mid", 0.5, published=200)]}
    merged = merge_answers(SearchParams(q="x", sort="newest"), [words, stems])
    assert [h["id"] for h in merged["hits"]] == ["new", "mid", "old"]


def test_first_pages_come_whole_deeper_pages_rank_ids_and_fetch_the_page_by_id() -> None:
    first = build_request(SearchParams(q="فيفا"), "articles")["queries"][0]
    deep = build_request(SearchParams(q="فيفا", page=20, per_page=10), "articles")["queries"][0]
    assert "body" in first["attributesToRetrieve"] and "headline" in first["attributesToRetrieve"]
    # Hundreds of hits ranked for a deep page bring only what the merge needs.
    assert deep["attributesToRetrieve"] == ["id", "published", "headline_terms", "lead_terms"]
    assert not any(key.startswith("attributesToCrop") for key in first)
    fetch = documents_request("articles", ["a", 'b"c'], ["id", "body"])["queries"][0]
    assert fetch["filter"] == 'id IN ["a", "b\\"c"]' and fetch["limit"] == 2


def test_latin_query_goes_as_the_latin_languages_and_newest_sorts() -> None:
    body = build_request(SearchParams(q="FIFA", sort="newest"), "articles")
    assert body["queries"][0]["locales"] == ["eng", "fra", "deu", "spa"]
    assert all(q["sort"] == ["published:desc"] for q in body["queries"])


def test_stop_words_alone_leave_only_the_words_query() -> None:
    assert len(build_request(SearchParams(q="في من"), "articles")["queries"]) == 1


def test_no_stems_query_when_analysis_changes_nothing() -> None:
    assert len(build_request(SearchParams(q="ترمب"), "articles")["queries"]) == 1
    assert len(build_request(SearchParams(q="وترمب"), "articles")["queries"]) == 2


def test_filters_quote_values_and_cover_whole_days() -> None:
    filters = build_filters(
        SearchParams(
            category="sport",
            tag='org:"fifa"',
            source="BBC",
            lang="ar",
            date_from=date(2018, 3, 1),
            date_to=date(2018, 3, 1),
        )
    )
    assert 'category = "sport"' in filters
    assert 'tag_ids = "org:\\"fifa\\""' in filters
    start = next(f for f in filters if f.startswith("published >="))
    end = next(f for f in filters if f.startswith("published <="))
    assert int(end.split()[-1]) - int(start.split()[-1]) == 86399


def test_result_facets_and_tag_names() -> None:
    answer = {
        "estimatedTotalHits": 21,
        "hits": [
            {
                "id": "a",
                "headline": "h",
                "lead": "l",
                "category": "sport",
                "source": "BBC",
                "tags": [{"id": "org:fifa", "type": "organisation", "name": "فيفا"}],
                "published_at": "2018-03-01T00:00:00+00:00",
                "url": "/articles/a",
                "body": "قرر الاتحاد الدولي لكرة القدم (الفيفا) أمس",
            }
        ],
        "facetDistribution": {
            "category": {"sport": 21},
            "source": {"BBC": 21},
            "tag_facets": {"org:fifa|فيفا": 12},
        },
    }
    result = to_result(SearchParams(q="فيفا", per_page=10), answer)
    assert result.total == 21 and result.pages == 3
    assert result.facets == {
        "category": {"sport": 21},
        "tag": {"org:fifa": 12},
        "source": {"BBC": 21},
    }
    assert result.tag_names == {"org:fifa": "فيفا"}
    assert "(<mark>الفيفا</mark>)" in result.hits[0].snippet


def test_the_fields_the_api_sends_unvalidated_are_exactly_the_models() -> None:
    answer = {
        "estimatedTotalHits": 1,
        "facetDistribution": {},
        "hits": [
            {
                "id": "a",
                "headline": "h",
                "lead": "l",
                "category": "sport",
                "source": "BBC",
                "tags": [{"id": "org:fifa", "type": "organisation", "name": "فيفا"}],
                "published": 1,
                "published_at": "2018-03-01T00:00:00+00:00",
                "url": "/articles/a",
                "body": "فيفا",
            }
        ],
    }
    fields = result_fields(SearchParams(q="فيفا"), answer)
    assert SearchResult.model_validate(fields).model_dump() == fields


def test_token_bucket_allows_bursts_then_says_when_to_retry() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("1.2.3.4", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("1.2.3.4", now=0.0)
    assert 0.9 < wait <= 1.0 and limiter.retry_after(wait) == "1"
    assert limiter.take("5.6.7.8", now=0.0) == 0.0
    assert limiter.take("1.2.3.4", now=1.0) == 0.0


def test_zero_rate_turns_the_limit_off() -> None:
    limiter = RateLimiter(per_minute=0, burst=1)
    assert all(limiter.take("x", now=0.0) == 0.0 for _ in range(100))


def test_a_weak_query_is_asked_again_with_each_word_left_out() -> None:
    from khabar_search import relax

    assert relax.leave_one_out("زاهر الوقود الصيف") == ["الوقود الصيف", "زاهر الصيف", "زاهر الوقود"]
    assert relax.leave_one_out("الوقود الصيف") == []  # one word left is not the reader's query
    assert relax.is_weak([{"hits": [{"_rankingScore": 0.5}]}], [1.0])
    assert relax.is_weak([{"hits": []}], [1.0])
    assert not relax.is_weak([{"hits": [{"_rankingScore": 0.95}]}], [1.0])
    # A derivation: the words' best hit is weak, the stems' is good.
    assert not relax.is_weak(
        [{"hits": [{"_rankingScore": 0.5}]}, {"hits": [{"_rankingScore": 0.95}]}], [1.0, 0.9]
    )
    words, stems = {"q": "زاهر الوقود الصيف"}, {"q": "زهر وقود صيف"}
    queries = relax.relaxed_queries([words, stems])
    assert len(queries) == 6 and {q["matchingStrategy"] for q in queries} == {"all"}


def test_a_word_in_the_headline_outweighs_the_same_share_of_a_score_earned_in_a_body() -> None:
    """Scores as Meilisearch gave them on SaudiNewsNet for "ينطح يتخطي بسهوله": the telling
    "ميسي.. ينطح!" holds one word of three in its headline (1/3, no typo); a long column holds
    the two others in its body, found by a relaxed query (0.71 × its weight 0.9)."""
    q = "ينطح يتخطي بسهوله"
    telling = {**hit("telling", 1 / 3), "headline_terms": " ".join(analyze("ميسي ينطح"))}
    column = {**hit("column", 0.71), "headline_terms": " ".join(analyze("اوباما بين المراوغة"))}
    typed = {"hits": [telling]}
    relaxed = {"hits": [column]}
    answer = merge_answers(SearchParams(q=q), [typed, relaxed], [1.0, 0.9])
    assert [h["id"] for h in answer["hits"]] == ["telling", "column"]


def test_a_name_spelled_with_another_long_vowel_counts_as_in_the_headline() -> None:
    """Scores as Meilisearch gave them on SaudiNewsNet for "اعنف قتيلا كابل": the telling
    writes Kabul كابول, and the stemmer reads the typed كابل as ك + ابل, so the headline
    held only اعنف of the query's words; a report of another blast in Kabul, written كابل,
    held ابل and a higher score."""
    q = "اعنف قتيلا كابل"
    telling = {
        **hit("telling", 0.7926),
        "headline_terms": " ".join(analyze("قتلى وجرحى في أعنف هجمات تشهدها كابول")),
    }
    other = {
        **hit("other", 0.9801),
        "headline_terms": " ".join(analyze("انفجار ثالث يهز كابل قرب المطار")),
    }
    answer = merge_answers(SearchParams(q=q), [{"hits": []}, {"hits": [other, telling]}])
    assert [h["id"] for h in answer["hits"]] == ["telling", "other"]


def test_a_common_word_keeps_its_own_spelling_in_the_headline() -> None:
    """محاكمة (a trial) is not محكمة (a court): only rare words, as names are, are compared
    without their long vowels."""
    trial = {**hit("trial", 0.5), "headline_terms": " ".join(analyze("بدء محاكمة المتهمين"))}
    court = {**hit("court", 0.6), "headline_terms": " ".join(analyze("المحكمة العليا ترفض"))}
    answer = merge_answers(SearchParams(q="محاكمه"), [{"hits": [court, trial]}])
    assert [h["id"] for h in answer["hits"]] == ["trial", "court"]

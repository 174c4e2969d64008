"""Enrich's settings: `KHABAR_*` environment variables."""

from pydantic import Field

from khabar_shared.settings import CommonSettings


class EnrichSettings(CommonSettings):
    enrich_host: str = "127.0.0.1"
    enrich_port: int = 8004
    max_related: int = Field(default=8, ge=1, le=20)
    # The cost of one article is bounded by these three, not by the archive.
    query_terms: int = Field(
        default=20,
        ge=1,
        description="Terms of an article that look up candidates, the ones it is indexed under.",
    )
    candidates_per_term: int = Field(
        default=40, ge=5, description="Postings nearest in time read per term."
    )
    rerank: int = Field(default=40, ge=8, description="Candidates read back for exact scoring.")
    # How many articles may get their related links refreshed by one new one.
    # The default reaches every candidate (`rerank` of them) whose list a new article changes:
    # lists then depend on the set of articles, not on their order (a cap of 4 left about one
    # refresh in seven undone).
    refresh_fanout: int = Field(default=40, ge=0)
    # Only articles published this close to a new one (before or after it) are refreshed.
    refresh_window_days: float = Field(default=3.0, gt=0)
    # A new article may enter the lists of articles that are not its candidates (they find
    # it, it does not find them: nearest postings in time are not a symmetric relation, and
    # a newer article reads the older ones without end); the refresh reads this many more
    # (see `candidates.lua`).
    refresh_reach: int = Field(default=10, ge=0)
    # An article may arrive this long after articles published later than it and still refresh
    # them: their last enriched version is kept (compressed) for the window and this long, then
    # dropped.
    late_arrival_days: float = Field(default=7.0, ge=0)

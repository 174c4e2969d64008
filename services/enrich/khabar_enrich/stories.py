"""Same story, told twice: near-duplicate detection from word shingles.

Two outlets rewriting one agency story share long runs of words. An article's
shingles are the overlapping runs of `SHINGLE` analyzed terms (normalized,
stemmed, no stop words, so "والحكومة" and "الحكومة" agree). Only a bottom-k
sketch is kept: the `SKETCH` smallest shingle hashes, a few hundred bytes per
article however long it is, from which the overlap of two articles is
estimated (Broder's bottom-k estimator).

Two articles are the same story when they were published within
`STORY_WINDOW_S` of each other and enough of the shorter one's shingles are
in the longer one. Two articles are the same text (`same_text`) when nearly
all their shingles agree, whenever each was published: a copy under another
uri.
"""

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

SHINGLE = 3
SKETCH = 96
MAX_TERMS = 600  # the top of a story is where the retellings overlap
STORY_WINDOW_S = 2.5 * 86_400
SAME_STORY_CONTAINMENT = 0.3
SAME_TEXT_RESEMBLANCE = 0.9  # a re-send or a syndicated copy: the same text, give or take a line


@dataclass(frozen=True, slots=True)
class Sketch:
    """The smallest shingle hashes (ascending) and how many shingles there were."""

    hashes: tuple[int, ...]
    size: int


def shingle_sketch(terms: Sequence[str], k: int = SKETCH) -> Sketch:
    """Bottom-k sketch of the article's term shingles."""
    head = list(terms[:MAX_TERMS])
    # Each run of SHINGLE terms joined, encoded and hashed in C loops (map over zip), not a
    # Python loop: the same hashes, without an interpreted step per shingle.
    runs = zip(*(head[i:] for i in range(SHINGLE)))
    shingles = set(map(zlib.crc32, map(str.encode, map(" ".join, runs))))
    return Sketch(tuple(sorted(shingles)[:k]), len(shingles))


def resemblance(a: Sketch, b: Sketch, k: int = SKETCH) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    if not a.hashes or not b.hashes:
        return 0.0
    union_bottom = sorted({*a.hashes, *b.hashes})[:k]
    both = set(a.hashes).intersection(b.hashes)
    return len(both.intersection(union_bottom)) / len(union_bottom)  # union_bottom: no repeats


def containment(a: Sketch, b: Sketch) -> float:
    """Estimated share of the shorter article's shingles that the other one has."""
    jaccard = resemblance(a, b)
    if jaccard == 0.0:
        return 0.0
    shared = jaccard * (a.size + b.size) / (1 + jaccard)
    return min(1.0, shared / max(min(a.size, b.size), 1))


def same_story(a: Sketch, a_published: float, b: Sketch, b_published: float) -> bool:
    """Near-duplicates published close together: one story."""
    if abs(a_published - b_published) > STORY_WINDOW_S:
        return False
    return containment(a, b) >= SAME_STORY_CONTAINMENT


def close_in_size(a: Sketch, b: Sketch) -> bool:
    """Could the two be one text? The resemblance of two sets is at most the ratio of their
    sizes: a cheap test before the sketches are compared."""
    return bool(a.hashes and b.hashes) and (
        min(a.size, b.size) >= SAME_TEXT_RESEMBLANCE * max(a.size, b.size)
    )


def same_text(a: Sketch, b: Sketch) -> bool:
    """Copies of one text (syndication, a re-send under a new uri), whenever published."""
    return close_in_size(a, b) and resemblance(a, b) >= SAME_TEXT_RESEMBLANCE

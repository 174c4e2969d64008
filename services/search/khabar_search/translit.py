"""Latin names and their Arabic spellings: candidate spellings by rule, and a likeness test.

Arabic news writes foreign names by sound: Nike نايكي, Federer فيدرر,
Peugeot بيجو, Weinstein واينستين. A reader types the Latin name. Two tools
here, both pure:

- `arabic_spellings(word)`: the likeliest Arabic spellings of a Latin word,
  by the correspondences Arabic newsrooms use (v/f → ف, p → ب, g → غ/ج/ق,
  ch → تش/ش, a long vowel written, a short one usually not). Search tries
  them when the query as typed finds little (`fallback.py`).
- `sounds_alike(latin, arabic)`: whether an Arabic phrase can be a spelling
  of a Latin one, by their consonant skeletons. Alias mining uses it to
  keep "فيدرر (Federer)" and drop a dateline "(CNN)" after a country.

Both work on consonant classes, because vowels are where spellings differ
most: Arabic writes long vowels with و ي ا and short ones not at all.
"""

import heapq
import re
import unicodedata
from functools import lru_cache

from khabar_search.synonyms import edit_distance

# One Latin letter group → Arabic spellings, each with a cost (lower is likelier).
# Longer groups are tried first; "" writes nothing (a short vowel, a silent letter).
_GROUPS: dict[str, tuple[tuple[str, float], ...]] = {
    "sch": (("ش", 0.0),),
    "tch": (("تش", 0.0),),
    "tsch": (("تش", 0.0),),
    "ch": (("تش", 0.2), ("ش", 0.4), ("ك", 1.2)),
    "sh": (("ش", 0.0),),
    "th": (("ث", 0.4), ("ت", 0.5), ("ذ", 1.2)),
    "ph": (("ف", 0.0),),
    "kh": (("خ", 0.0),),
    "gh": (("غ", 0.3), ("", 1.0)),
    "ck": (("ك", 0.0),),
    "qu": (("كو", 0.3), ("ك", 0.6)),
    "dj": (("ج", 0.0), ("دج", 0.5)),
    "zz": (("تز", 0.5), ("ز", 0.5)),
    "tz": (("تز", 0.2), ("ز", 0.8)),
    "ts": (("تس", 0.2),),
    "x": (("كس", 0.0),),
    "ee": (("ي", 0.0),),
    "ea": (("ي", 0.2),),
    "oo": (("و", 0.0),),
    "ou": (("و", 0.1),),
    "au": (("و", 0.3), ("او", 0.6)),
    "ai": (("اي", 0.2), ("ي", 0.5)),
    "ay": (("اي", 0.2),),
    "ei": (("اي", 0.2), ("ي", 0.3)),
    "ey": (("اي", 0.3), ("ي", 0.3)),
    "ie": (("ي", 0.2),),
    "oi": (("وي", 0.2),),
    "oy": (("وي", 0.2),),
    "ue": (("و", 0.3),),
    "b": (("ب", 0.0),),
    "c": (("ك", 0.2), ("س", 0.6)),
    "d": (("د", 0.0),),
    "f": (("ف", 0.0),),
    "g": (("غ", 0.2), ("ج", 0.5), ("ق", 0.9)),
    "h": (("ه", 0.3), ("", 0.6)),
    "j": (("ج", 0.0),),
    "k": (("ك", 0.0),),
    "l": (("ل", 0.0),),
    "m": (("م", 0.0),),
    "n": (("ن", 0.0),),
    "p": (("ب", 0.0),),
    "q": (("ك", 0.3), ("ق", 0.4)),
    "r": (("ر", 0.0),),
    "s": (("س", 0.0), ("ز", 1.0)),
    "t": (("ت", 0.0), ("ط", 1.0)),
    "v": (("ف", 0.0),),
    "w": (("و", 0.0),),
    "y": (("ي", 0.0),),
    "z": (("ز", 0.0),),
    "ce": (("سي", 0.2), ("س", 0.3)),
    "ci": (("سي", 0.2), ("تشي", 0.8)),
    "cy": (("سي", 0.2),),
    "ge": (("ج", 0.3), ("غ", 0.4), ("جي", 0.5)),
    "gi": (("جي", 0.3), ("غي", 0.4)),
    "a": (("ا", 0.4), ("", 0.5)),
    "e": (("", 0.3), ("ي", 0.5)),
    "i": (("ي", 0.2), ("", 0.8), ("اي", 0.9)),
    "o": (("و", 0.1), ("", 1.0)),
    "u": (("و", 0.2), ("", 1.0)),
}
# A word's first vowel is carried by an alef: Oscar أوسكار, Adidas أديداس, Intel إنتل.
_INITIAL: dict[str, tuple[tuple[str, float], ...]] = {
    "a": (("أ", 0.2), ("ا", 0.5)),
    "e": (("إ", 0.2), ("ا", 0.6)),
    "i": (("إ", 0.1), ("آي", 0.4)),
    "o": (("أو", 0.1),),
    "u": (("أو", 0.2),),
    "ou": (("أو", 0.1),),
    "mc": (("ماك", 0.0),),
    "ai": (("اي", 0.3),),
    "ei": (("اي", 0.3),),
    "ee": (("إي", 0.3),),
}
# The last vowel of a name is usually written: Messi ميسي, Ferrari فيراري, Toyota تويوتا.
_FINAL: dict[str, tuple[tuple[str, float], ...]] = {
    "a": (("ا", 0.1), ("ة", 0.8)),
    "e": (("", 0.3), ("ي", 0.4), ("ه", 0.9)),
    "i": (("ي", 0.0),),
    "o": (("و", 0.0),),
    "y": (("ي", 0.0), ("اي", 0.5)),
    "ey": (("ي", 0.2),),
    "ce": (("س", 0.2), ("سي", 0.3), ("سيه", 0.6)),
    "che": (("ش", 0.2), ("شه", 0.4)),
    "s": (("س", 0.0), ("ز", 0.3)),
    "ic": (("يتش", 0.2), ("يك", 0.3)),
}
_LONGEST = max(map(len, _GROUPS))
_LATIN_WORD = re.compile(r"[a-z]+")


def _fold(word: str) -> str:
    """Lower case without accents: Müller → muller, Mbappé → mbappe."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _options(word: str, at: int) -> list[tuple[int, tuple[tuple[str, float], ...]]]:
    """Each letter group that can start at `at`, with how far it reaches and its spellings."""
    found = []
    for size in range(min(_LONGEST, len(word) - at), 0, -1):
        group = word[at : at + size]
        table = _INITIAL if at == 0 else _FINAL if at + size == len(word) else {}
        spellings = table.get(group) or _GROUPS.get(group)
        if spellings:
            found.append((at + size, spellings))
    return found


def _sound_variants(latin: str) -> list[tuple[str, float]]:
    """Readings of an English spelling that its letters alone don't give, with their costs.

    Nike reads "naiki" (a vowel before consonant + final e is long), Visa
    "viza" (an s between vowels sounds z).
    """
    variants = []
    magic_e = re.sub(r"([aeiou]?)i([b-df-hj-np-tv-z])e$", r"\1ai\2i", latin)
    if magic_e != latin:
        variants.append((magic_e, 0.1))
    voiced = re.sub(r"(?<=[aeiou])s(?=[aeiou])", "z", latin)
    if voiced != latin:
        variants.append((voiced, 0.2))
    return variants


@lru_cache(maxsize=4096)
def arabic_spellings(word: str, limit: int = 4) -> tuple[str, ...]:
    """The `limit` likeliest Arabic spellings of one Latin word (cheapest first).

    A best-first search over the word's letter groups (and over its sound
    variants): each step writes one group; doubled consonants are written
    once (Ferrari فيراري).
    """
    latin = re.sub(r"([b-df-hj-np-tv-z])\1", r"\1", _fold(word).replace("'", ""))
    if not latin or not _LATIN_WORD.fullmatch(latin):
        return ()
    queue: list[tuple[float, str, int, str]] = [
        (cost, form, 0, "") for form, cost in [(latin, 0.0), *_sound_variants(latin)]
    ]
    heapq.heapify(queue)
    results: list[str] = []
    while queue and len(results) < limit:
        cost, form, at, written = heapq.heappop(queue)
        if at == len(form):
            if len(written) >= 2 and written not in results:
                results.append(written)
            continue
        for reach, spellings in _options(form, at):
            for spelling, step in spellings:
                heapq.heappush(queue, (cost + step, form, reach, written + spelling))
        if len(queue) > 2000:
            queue = heapq.nsmallest(500, queue)
    return tuple(results)


# Consonant classes shared by both scripts: letters an Arabic newsroom may
# swap for each other when writing one foreign sound fall in one class.
_ARABIC_CLASS = str.maketrans(
    {
        "ب": "B",
        "پ": "B",
        "ف": "F",
        "ڤ": "F",
        "ت": "T",
        "ط": "T",
        "ث": "T",
        "ذ": "D",
        "د": "D",
        "ض": "D",
        "ج": "K",
        "غ": "K",
        "ق": "K",
        "ك": "K",
        "گ": "K",
        "خ": "K",
        "س": "S",
        "ص": "S",
        "ز": "S",
        "ش": "C",
        "ر": "R",
        "ل": "L",
        "م": "M",
        "ن": "N",
        "ه": "",
        "ح": "",
        "ة": "",
        "ا": "",
        "أ": "",
        "إ": "",
        "آ": "",
        "و": "",
        "ي": "",
        "ى": "",
        "ء": "",
        "ئ": "",
        "ؤ": "",
        "ع": "",
        " ": "",
        "ـ": "",
    }
)
_LATIN_CLASSES = [
    ("sch", "C"),
    ("tch", "C"),
    ("ch", "C"),
    ("sh", "C"),
    ("ph", "F"),
    ("th", "T"),
    ("kh", "K"),
    ("ck", "K"),
    ("dj", "K"),
    ("x", "KS"),
    ("qu", "K"),
    ("b", "B"),
    ("p", "B"),
    ("f", "F"),
    ("v", "F"),
    ("t", "T"),
    ("d", "D"),
    ("g", "K"),
    ("j", "K"),
    ("k", "K"),
    ("q", "K"),
    ("c", "K"),
    ("s", "S"),
    ("z", "S"),
    ("r", "R"),
    ("l", "L"),
    ("m", "M"),
    ("n", "N"),
]


def arabic_skeleton(text: str) -> str:
    return _squeeze(_arabic_classes(text))


def _arabic_classes(text: str) -> str:
    # تش and دج spell one foreign sound each (ch, j).
    return text.replace("تش", "ش").replace("دج", "ج").translate(_ARABIC_CLASS)


def latin_skeleton(text: str) -> str:
    return _squeeze(_latin_classes(text))


def _latin_classes(text: str) -> str:
    latin = _fold(text)
    latin = re.sub(r"cc(?=[ei])", "ch", latin)  # Italian: Gucci, Versace's cousins
    latin = re.sub(r"c(?=[eiy])", "s", latin)
    latin = re.sub(r"dg(?=[eiy])", "j", latin)  # Cambridge كامبريدج: one sound, not two
    out = []
    at = 0
    while at < len(latin):
        for group, cls in _LATIN_CLASSES:
            if latin.startswith(group, at):
                out.append(cls)
                at += len(group)
                break
        else:
            at += 1  # vowels, h, w, y, digits and signs carry no consonant class
    return "".join(out)


def _squeeze(skeleton: str) -> str:
    return re.sub(r"(.)\1+", r"\1", skeleton)


def skeleton_distance(latin: str, arabic: str) -> int:
    return edit_distance(latin_skeleton(latin), arabic_skeleton(arabic))


def raw_skeleton_distance(latin: str, arabic: str) -> int:
    """The distance before doubled consonant classes are merged into one."""
    return edit_distance(_latin_classes(latin), _arabic_classes(arabic))


def sounds_alike(latin: str, arabic: str) -> bool:
    """Whether `arabic` can be a spelling of `latin`: their consonant skeletons agree,
    with one slip allowed in a skeleton of four or more consonants."""
    a, b = latin_skeleton(latin), arabic_skeleton(arabic)
    if len(a) < 2 or len(b) < 2:
        return a == b and len(a) == 2
    return edit_distance(a, b) <= (1 if max(len(a), len(b)) >= 4 else 0)

"""Small checks shared by the readers: dates, language tags, control characters, URLs."""

import re
import unicodedata
from datetime import datetime, tzinfo
from functools import lru_cache
from urllib.parse import urlsplit

# ISO 639-1: the two-letter language codes (184 of them).
ISO_639_1 = frozenset(
    [
        "aa",
        "ab",
        "ae",
        "af",
        "ak",
        "am",
        "an",
        "ar",
        "as",
        "av",
        "ay",
        "az",
        "ba",
        "be",
        "bg",
        "bi",
        "bm",
        "bn",
        "bo",
        "br",
        "bs",
        "ca",
        "ce",
        "ch",
        "co",
        "cr",
        "cs",
        "cu",
        "cv",
        "cy",
        "da",
        "de",
        "dv",
        "dz",
        "ee",
        "el",
        "en",
        "eo",
        "es",
        "et",
        "eu",
        "fa",
        "ff",
        "fi",
        "fj",
        "fo",
        "fr",
        "fy",
        "ga",
        "gd",
        "gl",
        "gn",
        "gu",
        "gv",
        "ha",
        "he",
        "hi",
        "ho",
        "hr",
        "ht",
        "hu",
        "hy",
        "hz",
        "ia",
        "id",
        "ie",
        "ig",
        "ii",
        "ik",
        "io",
        "is",
        "it",
        "iu",
        "ja",
        "jv",
        "ka",
        "kg",
        "ki",
        "kj",
        "kk",
        "kl",
        "km",
        "kn",
        "ko",
        "kr",
        "ks",
        "ku",
        "kv",
        "kw",
        "ky",
        "la",
        "lb",
        "lg",
        "li",
        "ln",
        "lo",
        "lt",
        "lu",
        "lv",
        "mg",
        "mh",
        "mi",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "my",
        "na",
        "nb",
        "nd",
        "ne",
        "ng",
        "nl",
        "nn",
        "no",
        "nr",
        "nv",
        "ny",
        "oc",
        "oj",
        "om",
        "or",
        "os",
        "pa",
        "pi",
        "pl",
        "ps",
        "pt",
        "qu",
        "rm",
        "rn",
        "ro",
        "ru",
        "rw",
        "sa",
        "sc",
        "sd",
        "se",
        "sg",
        "si",
        "sk",
        "sl",
        "sm",
        "sn",
        "so",
        "sq",
        "sr",
        "ss",
        "st",
        "su",
        "sv",
        "sw",
        "ta",
        "te",
        "tg",
        "th",
        "ti",
        "tk",
        "tl",
        "tn",
        "to",
        "tr",
        "ts",
        "tt",
        "tw",
        "ty",
        "ug",
        "uk",
        "ur",
        "uz",
        "ve",
        "vi",
        "vo",
        "wa",
        "wo",
        "xh",
        "yi",
        "yo",
        "za",
        "zh",
        "zu",
    ]
)

# language, then optionally a script (Latn) and/or a region (GB, 419).
_LANGUAGE_TAG = re.compile(r"^([a-z]{2})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?$", re.IGNORECASE)

# C0 and C1 controls and DEL; in one-line fields even tab and newline are wrong.
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# In body text, tab, newline and carriage return are fine.
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TEXT_CONTROL_CHARS = tuple(chr(code) for code in range(0x80) if _TEXT_CONTROLS.match(chr(code)))


# Line breaks and tabs inside a one-line field (copied text), with the spaces around them.
_LINE_BREAKS = re.compile(r"\s*[\t\n\r\v\f\x85\u2028\u2029]\s*")


def clean_line(text: str) -> tuple[str, list[str]]:
    """A one-line field as meant: line breaks and tabs folded into one space, other controls
    removed; and what was done, for the sender."""
    done = []
    folded = _LINE_BREAKS.sub(" ", text)
    if folded != text:
        done.append("line breaks or tabs folded into one space")
    kept = _LINE_CONTROLS.sub("", folded)
    if len(kept) != len(folded):
        done.append(f"{len(folded) - len(kept)} control character(s) removed")
    return kept, done


def clean_text(text: str) -> tuple[str, list[str]]:
    """Text whose lines count (a body, a note): control characters other than tab and line
    breaks removed (a scraped \\x1a); and what was done."""
    kept = _TEXT_CONTROLS.sub("", text)
    removed = len(text) - len(kept)
    return kept, [f"{removed} control character(s) removed"] if removed else []


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def surrogate_paths(document: object, limit: int = 10) -> list[list[str | int]]:
    """Paths to strings (keys or values) holding lone surrogates, which no UTF-8 can carry.

    JSON may spell them (`"\\ud800"`); they would break every later step that
    writes the article out, so they are refused up front. Iterative, so a
    deeply nested document can't exhaust the stack.
    """
    found: list[list[str | int]] = []
    stack: list[tuple[object, list[str | int]]] = [(document, [])]
    while stack and len(found) < limit:
        value, path = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                found.append(path)
        elif isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    found.append([*path, key])
                stack.append((child, [*path, key]))
        elif isinstance(value, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(value))
    return found


def language_problem(tag: str) -> str | None:
    """Why `tag` is not an accepted language tag, or None when it is."""
    match = _LANGUAGE_TAG.match(tag)
    if match is None:
        return f"{tag!r} is not a language tag like 'ar' or 'en-GB'"
    if match.group(1).lower() not in ISO_639_1:
        return f"{match.group(1)!r} is not an ISO 639-1 language code"
    return None


@lru_cache(maxsize=1024)
def read_language(tag: str) -> tuple[str | None, str]:
    """Why `tag` is refused (or None), and its normal spelling: each tag is read once.

    A newsroom sends a handful of different tags, so nearly every article's is a cache hit.
    """
    problem = language_problem(tag)
    return problem, "" if problem else normalize_language(tag)


def normalize_language(tag: str) -> str:
    """'EN-gb' → 'en-GB': lower-case language, title-case script, upper-case region."""
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        out.append(part.title() if len(part) == 4 else part.upper())
    return "-".join(out)


def parse_timestamp(
    value: str, naive_zone: tzinfo | None = None
) -> tuple[datetime | None, str | None]:
    """An ISO 8601 timestamp with its offset, or why it isn't one.

    A time written without an offset is read in `naive_zone` when one is
    given (the sender's configured zone), and refused without one.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, f"{value[:40]!r} is not an ISO 8601 date-time like 2018-02-26T09:30:00+03:00"
    # fromisoformat gives a fixed `timezone` or none at all: a tzinfo always has an offset.
    if parsed.tzinfo is None:
        if naive_zone is not None:
            return parsed.replace(tzinfo=naive_zone), None
        return None, f"{value[:40]!r} needs a UTC offset (e.g. 'Z' or '+03:00')"
    return parsed, None


def has_line_controls(text: str) -> bool:
    # Every control character is unprintable; isprintable() answers most strings far faster.
    return not text.isprintable() and _LINE_CONTROLS.search(text) is not None


def has_text_controls(text: str) -> bool:
    # On long bodies, one `in` per character beats the regex engine's walk (a plain loop: a
    # generator under any() costs more).
    if text.isprintable():
        return False
    for char in _TEXT_CONTROL_CHARS:
        if char in text:
            return True
    return False


# The common shape of a web address: what `urlsplit` would read as scheme and host (the host
# without brackets, which urlsplit checks as IPv6).
_PLAIN_WEB_URL = re.compile(r"https?://([^/?#\[\]]*)(?:[/?#]|$)")


def is_web_url(value: str) -> bool:
    """An absolute http(s) address with a host."""
    plain = _PLAIN_WEB_URL.match(value)
    if plain and plain.group(1).isascii() and value.isprintable():
        # Nothing for urlsplit to strip or check here, and it would find this host: its answer,
        # without its cost (paid for the `url` of each article).
        return bool(plain.group(1))
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and not has_line_controls(value)


def guess_language(text: str) -> str:
    """'ar' when most letters are Arabic script, else 'en': only for documents that don't say."""
    letters = [ch for ch in text[:2000] if ch.isalpha()]
    arabic = sum(1 for ch in letters if "ARABIC" in unicodedata.name(ch, ""))
    return "ar" if letters and arabic * 2 > len(letters) else "en"

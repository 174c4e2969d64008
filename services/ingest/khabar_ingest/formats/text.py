"""Plain text to body HTML: paragraphs, subheads, and nothing unescaped."""

import html
import re

# A short line that doesn't end like a sentence reads as a subhead.
SUBHEAD_MAX_CHARS = 60
_SENTENCE_END = tuple(".!?؟:;؛,،…\"'»”)]-–—")
_BLANK_LINES = re.compile(r"\n\s*\n")


def is_subhead(line: str) -> bool:
    stripped = line.strip()
    return 0 < len(stripped) < SUBHEAD_MAX_CHARS and not stripped.endswith(_SENTENCE_END)


def lines_to_html(lines: list[str], *, subheads: bool = True) -> str:
    """One `<p>` per non-empty line; short unpunctuated lines as `<h2>` when `subheads`.

    A subhead is never the first or the last block: a short opening line is
    a lead-in and a short closing line a signature, not a section title.
    """
    kept = [line.strip() for line in lines if line.strip()]
    blocks = []
    for index, line in enumerate(kept):
        inner = index not in (0, len(kept) - 1)
        tag = "h2" if subheads and inner and is_subhead(line) else "p"
        blocks.append(f"<{tag}>{html.escape(line, quote=False)}</{tag}>")
    return "\n".join(blocks)


def text_to_html(text: str) -> str:
    """Plain text body (from ninjs body_text or a feed) as paragraphs, without subhead guessing.

    Paragraphs are separated by blank lines when there are any, else by line breaks.
    """
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if _BLANK_LINES.search(normalized):
        paragraphs = [" ".join(chunk.split()) for chunk in _BLANK_LINES.split(normalized)]
    else:
        paragraphs = normalized.split("\n")
    return lines_to_html(paragraphs, subheads=False)


# C0 controls other than tab and newline, and DEL: noise in scraped text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def strip_controls(text: str) -> str:
    """Scraped text as a reader sees it: control characters (a stray \x02) removed."""
    return _CONTROLS.sub("", text)

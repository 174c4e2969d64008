"""Figures laid out as labelled blocks rather than tables: they wrap, so 80 columns show all.

A rich table wider than the terminal (or than 80 columns, rich's width for a pipe) cuts its
cells to "…"; a line of labelled figures wraps between them instead and loses none.
"""

from rich.padding import Padding
from rich.text import Text


def figures(*pairs: tuple[str, str | Text]) -> Text:
    """Labelled figures on one line ("lag 2  pending 1"), wrapped between words, never cut."""
    line = Text()
    for n, (label, value) in enumerate(pairs):
        if n:
            line.append("  ")
        line.append(f"{label} ", style="dim")
        line.append(value)
    return line


def indented(line: Text) -> Padding:
    """Two spaces in, and so is each line it wraps to."""
    return Padding(line, (0, 0, 0, 2), expand=False)


def red_if(condition: bool, value: str) -> Text:
    return Text(value, style="red" if condition else "")

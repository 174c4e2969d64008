"""What the search page says about a refused parameter, in the page's language.

The API's problem document keeps the validator's English (`detail` of each error, by
parameter): programs read it. A reader on an Arabic page was shown that English beside
each Arabic parameter name; the page now says it in its own language, from the
validator's error type and limits. An error this module does not know keeps the English
on an English page and gets a plain "value not accepted" on an Arabic one.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from khabar_shared.problems import FieldProblem

# The search's own refusals (app.py), in the API's English; the page says them in its own.
FROM_AFTER_TO = "must not be after 'to'"
TOO_DEEP = "page × per_page must be at most {max_depth}: refine your search"
_TOO_DEEP = re.compile(r"page × per_page must be at most (\d+): refine your search")

_DATE_KINDS = frozenset(
    {"date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_type"}
)
_INT_KINDS = frozenset({"int_parsing", "int_type", "int_from_float"})


def arabic(kind: str, ctx: Mapping[str, Any]) -> str:
    """An Arabic reader's words for a validator's error `kind` (with its `ctx` limits)."""
    if kind == "string_too_long":
        return f"أطول من المسموح: {ctx.get('max_length')} حرفاً على الأكثر"
    if kind == "string_pattern_mismatch":
        return "فيها حروف أو رموز لا نقبلها هنا"
    if kind in _INT_KINDS:
        return "يجب أن تكون عدداً صحيحاً"
    if kind == "greater_than_equal":
        return f"يجب ألا تقل عن {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"يجب ألا تزيد على {ctx.get('le')}"
    if kind in _DATE_KINDS:
        return "يجب أن تكون تاريخاً بالشكل 2018-01-31"
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", " أو ")
        return f"يجب أن تكون إحدى القيم: {choices}"
    if kind == "missing":
        return "مطلوبة"
    return "قيمة لا نقبلها"


def own_kind(detail: str) -> tuple[str, dict[str, Any]] | None:
    """The kind of one of the search's own refusals, known by its English detail."""
    if detail == FROM_AFTER_TO:
        return "from_after_to", {}
    found = _TOO_DEEP.fullmatch(detail)
    if found:
        return "too_deep", {"max_depth": int(found.group(1))}
    return None


def arabic_own(kind: str, ctx: Mapping[str, Any]) -> str:
    if kind == "from_after_to":
        return "يجب ألا تكون بعد «إلى تاريخ»"
    return f"الصفحة × عدد النتائج يجب ألا يتجاوز {ctx['max_depth']}: حدّد بحثك أكثر"


def reader_errors(
    errors: Sequence[FieldProblem],
    validation: Sequence[Mapping[str, Any]] | None,
    lang: str,
) -> list[FieldProblem]:
    """`errors` with each detail in `lang` (the page's): Arabic from the validator's error
    types (`validation`, FastAPI's errors in the same order) or the search's own kinds."""
    if lang != "ar":
        return list(errors)
    said = []
    for index, error in enumerate(errors):
        own = own_kind(error.detail)
        if own is not None:
            detail = arabic_own(*own)
        elif validation is not None and index < len(validation):
            item = validation[index]
            detail = arabic(str(item.get("type", "")), item.get("ctx") or {})
        else:
            detail = arabic("", {})
        said.append(FieldProblem(pointer=error.pointer, detail=detail))
    return said

"""Headline-only urgent items ("عاجل" flashes): news agencies send the headline first.

An item is a flash when it says so: IPTC urgency 1 (the highest), a
Superdesk `profile` of `flash` or `snap`, a `signal`/`genre` coded `flash`
or `breaking`, or a headline that starts with the agencies' marker (عاجل,
Breaking, Urgent, Flash, then ':', '-', '|' or a closing bracket). Such an
item is taken without a body; the article then carries `extra.flash = true`
for the pages to show it as breaking news. Anything else without a body is
still refused.
"""

import re
from typing import Any

FLASH_CODES = frozenset(("flash", "breaking", "snap", "urgent"))
# The marker, then the separator agencies put after it ("عاجل: …", "(عاجل) …", "URGENT - …"):
# "Urgent care clinics close" is an ordinary headline.
_MARKER = re.compile(r"^\s*[\(\[«]?\s*(عاجل|breaking|urgent|flash)\s*[:\-–—|\)\]»]", re.IGNORECASE)


def is_flash(document: dict[str, Any], headline: str) -> bool:
    if document.get("urgency") == 1:
        return True
    profile = document.get("profile")
    if isinstance(profile, str) and profile.lower() in FLASH_CODES:
        return True
    for name in ("signal", "genre"):
        values = document.get(name)
        if isinstance(values, list) and any(
            isinstance(value, dict)
            and str(value.get("code", "")).lower().rpartition(":")[2] in FLASH_CODES
            for value in values
        ):
            return True
    return bool(_MARKER.match(headline))

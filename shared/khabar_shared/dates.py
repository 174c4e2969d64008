"""Dates as readers read them: in the site's time zone, Arabic month names on Arabic pages."""

from datetime import datetime
from zoneinfo import ZoneInfo

ARABIC_INDIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

MONTHS = {
    "ar": [
        "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
        "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
    ],
    "en": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
}  # fmt: skip


def base_language(lang: str) -> str:
    return lang.split("-")[0].lower() if lang else "en"


def local_time(moment: datetime, timezone: str) -> datetime:
    if moment.tzinfo is None:
        # Naive times in events are UTC by convention.
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(timezone))


def arabic_number(text: str) -> str:
    return text.translate(ARABIC_INDIC_DIGITS)


def human_date(moment: datetime, lang: str, timezone: str, arabic_digits: bool = True) -> str:
    """'26 فبراير 2018، 14:05' or '26 February 2018, 14:05' in `timezone`."""
    local = local_time(moment, timezone)
    language = base_language(lang)
    months = MONTHS.get(language, MONTHS["en"])
    comma = "،" if language == "ar" else ","
    text = f"{local.day} {months[local.month - 1]} {local.year}{comma} {local:%H:%M}"
    return arabic_number(text) if arabic_digits and language == "ar" else text

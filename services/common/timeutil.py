"""Business dates and months are in Asia/Shanghai (SPEC §3)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date_only(value: Any) -> Any:
    """A date on the wire is "YYYY-MM-DD" and nothing else (pydantic alone would also read `0` or
    `1700000000` as a Unix timestamp, which the documented `format: date` does not allow)."""
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError('must be a date "YYYY-MM-DD"')


# A date query parameter or field: documented as `format: date`, and held to it.
IsoDate = Annotated[dt.date, BeforeValidator(iso_date_only)]


def utc_now() -> dt.datetime:
    """The current instant, timezone-aware in UTC: what timestamps are stored as."""
    return dt.datetime.now(dt.UTC)


def now_shanghai() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def today_shanghai() -> dt.date:
    return now_shanghai().date()

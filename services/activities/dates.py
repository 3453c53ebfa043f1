"""Date rules shared by the logs: nothing is logged in the future (plans excepted)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator

from services.common.timeutil import IsoDate, today_shanghai, utc_now

# Devices' clocks drift; a record a few minutes "in the future" is a clock, not a forgery.
CLOCK_SKEW = dt.timedelta(minutes=5)


def not_in_future_date(value: dt.date) -> dt.date:
    if value > today_shanghai():
        raise ValueError("must not be in the future")
    return value


def not_in_future_time(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset (RFC 3339), e.g. 2026-03-01T09:00:00+08:00")
    # Aware datetimes compare by instant, so UTC "now" is as good as Shanghai's and much cheaper
    # (this runs for every record of a 10,000-record batch).
    if value > utc_now() + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return value


# A business date that has begun in Shanghai ("YYYY-MM-DD" only, as documented).
PastDate = Annotated[IsoDate, AfterValidator(not_in_future_date)]
# An instant with an offset, not ahead of the clock by more than CLOCK_SKEW.
PastTime = Annotated[dt.datetime, AfterValidator(not_in_future_time)]

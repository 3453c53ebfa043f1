"""Business dates and months are in Asia/Shanghai (SPEC §3)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_shanghai() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def today_shanghai() -> dt.date:
    return now_shanghai().date()

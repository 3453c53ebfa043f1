"""The one clock. Every "now", "today", "this month" and "in the future" in Linju comes from here.

Timestamps are stored as UTC instants (:func:`utc_now`). Business dates and months are
Asia/Shanghai's (SPEC §3, :func:`today_shanghai`): from 16:00 UTC Shanghai is already on the next
day, so a date taken from a UTC value (``datetime.now(UTC).date()``, ``date.today()`` on a UTC
machine) is yesterday's for eight hours of every day. Nothing else in the services, the CLI, the
seeders, the bench or the tests asks the machine for the time.

**A test clock.** With ``LINJU_TEST_CLOCK_FILE`` set (``LINJU_ENV=test`` only; every other
environment refuses to start with it, see :mod:`services.common.settings`), the clock of every
process of a stack reads the instant written in that file (RFC 3339 with an offset) and stands
still there; an empty or missing file means the real clock. The tests write the file to move a
whole stack to the hard moments (Shanghai midnight, the last evening of a month or year, 29
February) while ``time-machine`` moves the test process itself (tests/clock). The file is read
again only when it changes (one ``stat`` per reading, and only in test stacks).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
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


class FileClock:
    """The instant written in a file, for test stacks (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._instant: dt.datetime | None = None

    def instant(self) -> dt.datetime | None:
        """The file's instant, or None for "the real clock" (no file, or an empty one)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._instant = None, None
            return None
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._instant = parse_instant(self.path.read_text().strip())
            self._seen = seen
        return self._instant


def parse_instant(text: str) -> dt.datetime | None:
    if not text:
        return None
    instant = dt.datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"the test clock needs an offset (RFC 3339), got {text!r}")
    return instant.astimezone(dt.UTC)


_test_clock: FileClock | None = None


def use_test_clock(path: Path | None) -> None:
    """Install (or, with None, remove) the test clock of this process. Called once at start-up from
    the settings of a test stack; production settings refuse the path before it gets here."""
    global _test_clock
    _test_clock = FileClock(path) if path is not None else None


def utc_now() -> dt.datetime:
    """The current instant, timezone-aware in UTC: what timestamps are stored as."""
    if _test_clock is not None:
        instant = _test_clock.instant()
        if instant is not None:
            return instant
    return dt.datetime.now(dt.UTC)


def unix_now() -> float:
    """:func:`utc_now` as Unix seconds (token ``iat``/``exp``, webhook timestamps)."""
    return utc_now().timestamp()


def now_shanghai() -> dt.datetime:
    """The current instant as Shanghai wall-clock time."""
    return utc_now().astimezone(SHANGHAI)


def today_shanghai() -> dt.date:
    """The business date: today in Asia/Shanghai."""
    return now_shanghai().date()


def shanghai_midnight(day: dt.date) -> dt.datetime:
    """The instant a Shanghai business date begins (half-open ranges: ``[midnight(d), midnight(d+1))``)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI)


def shanghai_date(instant: dt.datetime) -> dt.date:
    """The Shanghai business date of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no business date")
    return instant.astimezone(SHANGHAI).date()

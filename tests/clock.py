"""The tests' clock: the services' one business clock (``services.common.timeutil``), never the
machine's date.

The machines run in UTC and business dates are Shanghai's, which is already tomorrow from 16:00
UTC: ``date.today()`` in a test is yesterday's date for eight hours of every day, and the service
(rightly) judges "the future" by Shanghai. Every test that needs "today", "tomorrow" or "an hour
ago" asks this module.

Dates are computed when a test *runs*, not when its module is imported: a suite started at 15:55
UTC is in Shanghai's next day five minutes later. A ``parametrize`` list is built at import, so its
cases hold a placeholder (:class:`Day`, :class:`Moment`) that :func:`resolve` turns into the value
at run time.

Under ``time_machine.travel(...)`` (tests/test_business_clock.py) all of this follows the travelled
clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.common.timeutil import SHANGHAI, now_shanghai, today_shanghai, utc_now

__all__ = ["SHANGHAI", "Day", "Moment", "day", "moment", "now_shanghai", "resolve", "today", "utc_now"]


def today() -> dt.date:
    """Today in Shanghai (the business date)."""
    return today_shanghai()


def day(offset: int = 0) -> str:
    """The ISO date ``offset`` days from Shanghai's today (negative: in the past)."""
    return (today_shanghai() + dt.timedelta(days=offset)).isoformat()


def moment(*, hours: float = 0, days: float = 0, minutes: float = 0) -> str:
    """An RFC 3339 instant in Shanghai time, this far from now (negative: in the past), to the second."""
    instant = now_shanghai() + dt.timedelta(days=days, hours=hours, minutes=minutes)
    return instant.replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Day:
    """A date relative to Shanghai's today, for parametrize lists: ``Day(+1)`` is tomorrow."""

    offset: int

    def value(self) -> str:
        return day(self.offset)

    def __repr__(self) -> str:
        return f"day({self.offset:+d})"


@dataclass(frozen=True)
class Moment:
    """An instant relative to now, for parametrize lists: ``Moment(hours=2)`` is two hours ahead."""

    hours: float = 0
    days: float = 0

    def value(self) -> str:
        return moment(hours=self.hours, days=self.days)

    def __repr__(self) -> str:
        return f"moment(days={self.days:+g}, hours={self.hours:+g})"


def resolve(value: Any) -> Any:
    """``value`` with every :class:`Day`/:class:`Moment` inside it (dicts, lists) made concrete now."""
    if isinstance(value, Day | Moment):
        return value.value()
    if isinstance(value, dict):
        return {key: resolve(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(resolve(item) for item in value)
    return value

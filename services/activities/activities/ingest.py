"""Activities in bulk (batch ingest, issue 7 P5): the column values of plainly valid records,
without building a pydantic model per record.

Validating 10,000 records with ``TypeAdapter(list[ActivityCreate])`` and dumping each model again
costs ~40 µs a record, most of a batch's time. :func:`plain_rows` checks each record against
exactly the rules of :class:`ActivityCreate` (and its :class:`Evidence` items) in plain Python
and returns the stored values directly, as tuples in :data:`COLUMNS` order.

It is deliberately *narrower* than pydantic: it accepts only the plain JSON forms a client sends
(canonical UUID strings, RFC 3339 timestamps with an offset, real booleans and integers) and
answers ``None`` as soon as one record is anything else — unusual but perhaps valid, or invalid.
The caller then validates the whole batch with the schema itself, which gives the exact errors
(or, for an unusual valid form, the values). So this fast path can make a batch cheaper, never
more permissive; ``tests/activities/test_batch.py`` checks both paths agree.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

from services.activities.activities.schemas import ActivityCreate, Evidence
from services.activities.dates import CLOCK_SKEW
from services.common.enums import EvidenceKind, ServiceCategory, TargetGroup

# The stored columns of a new activity (besides the bookkeeping columns id, created_by, version,
# created_at, updated_at), in COPY tuple order.
COLUMNS = (
    "site_id",
    "category",
    "title",
    "is_theme",
    "starts_at",
    "ends_at",
    "location",
    "attendance",
    "target_groups",
    "partner_org_ids",
    "evidence",
    "has_sign_in_sheet",
    "has_photo",
)
# The request fields are the stored columns but the two derived flags.
FIELDS = frozenset(COLUMNS) - {"has_sign_in_sheet", "has_photo"}
EVIDENCE_FIELDS = frozenset({"kind", "uri", "sha256"})
# The fast path knows these schemas field by field; a changed schema switches it off (and the
# batch test that compares both paths names the change).
ENABLED = set(ActivityCreate.model_fields) == FIELDS and set(Evidence.model_fields) == EVIDENCE_FIELDS

_CATEGORIES = frozenset(c.value for c in ServiceCategory)
_TARGET_GROUPS = frozenset(g.value for g in TargetGroup)
_EVIDENCE_KINDS = frozenset(k.value for k in EvidenceKind)
# An enum member's ``.value`` costs a descriptor call (~0.6 µs); twice a record it showed in profiles.
_SIGN_IN_SHEET = EvidenceKind.SIGN_IN_SHEET.value
_PHOTO = EvidenceKind.PHOTO.value
_MAX_TARGET_GROUPS = len(TargetGroup)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class _NotPlain(Exception):
    """This record needs the schema's own validation."""


def _uuid(value: Any) -> str:
    # Kept as the canonical text: the driver encodes it for the uuid column in C.
    if type(value) is not str or _UUID.fullmatch(value) is None:
        raise _NotPlain
    return value


def _text(value: Any, *, low: int, high: int) -> str:
    if type(value) is not str or not low <= len(value) <= high:
        raise _NotPlain
    return value


def _past_time(value: Any, latest: dt.datetime) -> dt.datetime:
    if type(value) is not str or _TIMESTAMP.fullmatch(value) is None:
        raise _NotPlain
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _NotPlain from None
    if parsed > latest:
        raise _NotPlain
    return parsed


def _evidence(items: Any) -> tuple[str, bool, bool]:
    if type(items) is not list or len(items) > 50:
        raise _NotPlain
    stored = []
    kinds = set()
    for item in items:
        if type(item) is not dict or not item.keys() <= EVIDENCE_FIELDS:
            raise _NotPlain
        kind = item.get("kind")
        if kind not in _EVIDENCE_KINDS or type(kind) is not str:
            raise _NotPlain
        sha256 = item.get("sha256")
        if sha256 is not None:
            if type(sha256) is not str or _SHA256.fullmatch(sha256) is None:
                raise _NotPlain
            sha256 = sha256.lower()
        kinds.add(kind)
        stored.append({"kind": kind, "uri": _text(item.get("uri"), low=1, high=500), "sha256": sha256})
    return (
        orjson.dumps(stored).decode(),
        _SIGN_IN_SHEET in kinds,
        _PHOTO in kinds,
    )


def _row(record: Any, latest: dt.datetime) -> tuple[Any, ...]:
    if type(record) is not dict or not record.keys() <= FIELDS:
        raise _NotPlain
    category = record.get("category")
    if type(category) is not str or category not in _CATEGORIES:
        raise _NotPlain
    is_theme = record.get("is_theme", False)
    attendance = record.get("attendance", 0)
    if type(is_theme) is not bool or type(attendance) is not int or not 0 <= attendance <= 100_000:
        raise _NotPlain
    starts_at = _past_time(record.get("starts_at"), latest)
    ends_at = _past_time(record.get("ends_at"), latest)
    if ends_at < starts_at:
        raise _NotPlain
    groups = record.get("target_groups", [])
    if type(groups) is not list or len(groups) > _MAX_TARGET_GROUPS:
        raise _NotPlain
    for group in groups:
        if type(group) is not str or group not in _TARGET_GROUPS:
            raise _NotPlain
    partners = record.get("partner_org_ids", [])
    if type(partners) is not list or len(partners) > 50:
        raise _NotPlain
    evidence, has_sign_in_sheet, has_photo = _evidence(record.get("evidence", []))
    return (
        _uuid(record.get("site_id")),
        category,
        _text(record.get("title"), low=1, high=200),
        is_theme,
        starts_at,
        ends_at,
        _text(record.get("location", ""), low=0, high=200),
        attendance,
        list(groups),
        [_uuid(p) for p in partners],
        evidence,
        has_sign_in_sheet,
        has_photo,
    )


def plain_rows(records: list[Any], now: dt.datetime) -> list[tuple[Any, ...]] | None:
    """The stored values (:data:`COLUMNS` order) of every record, or None if any record is not
    plainly valid; ``now`` is the time the records may not be later than (minus the clock skew)."""
    if not ENABLED:
        return None
    latest = now + CLOCK_SKEW
    try:
        return [_row(record, latest) for record in records]
    except _NotPlain:
        return None

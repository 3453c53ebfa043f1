"""协商议事 (5.4.8): nothing beyond the shared record rules."""

from __future__ import annotations

from services.activities.deliberations.models import Deliberation
from services.activities.records import RecordKind

DELIBERATIONS = RecordKind(
    model=Deliberation,
    object_type="deliberation",
    label_en="deliberation",
    label_zh="协商议事记录",
    date_column="held_on",
)

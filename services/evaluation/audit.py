"""The evaluation service's audit writer: every write, with before/after, actor, request id, address."""

from __future__ import annotations

from services.common.audit import audit_writer
from services.evaluation.database import tables

audit = audit_writer(tables.audit, outbox=tables.outbox)

"""enum and state checks

Users and API clients hold only the roles the API gives them, and a webhook delivery's state is a
``delivery_state`` code, dated when delivered (issue 15); the hand-written
``ck_webhook_deliveries_state`` gives way to the generated ``ck_webhook_deliveries_state_enum``.
Added to a live database by migrations/checks.py: if stored rows break a rule, the migration
stops naming them and changes nothing.

Revision ID: gat0004
Revises: gat0003
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

from migrations.checks import add_checks, drop_checks
from services.common.constraints import codes_check, recorded_when

revision: str = 'gat0004'
down_revision: str | None = 'gat0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = [
    ("users", codes_check("role", ("district", "street", "operator", "evaluator"))),
    ("api_clients", codes_check("role", ("integration",))),
    ("webhook_deliveries", codes_check("state", ("pending", "delivered", "failed"))),
    ("webhook_deliveries", recorded_when("delivered_at", "state", ["delivered"])),
]


HAND_WRITTEN = [("webhook_deliveries", "ck_webhook_deliveries_state", "state IN ('pending', 'delivered', 'failed')")]


def upgrade() -> None:
    add_checks('gateway', CHECKS, replacing=HAND_WRITTEN)


def downgrade() -> None:
    drop_checks('gateway', CHECKS, restoring=HAND_WRITTEN)

"""The enum and state checks reach a database in use (issue 15): each lineage's migration upgrades
a database holding the demo data, and on a database holding a row that breaks a rule it stops,
naming the row, with nothing changed — no constraint added, the row as it was, the lineage still
at the revision before.

Each test runs its own embedded PostgreSQL (services.cli.database.open_database), migrated to the
revisions before the checks, exactly as ``linju migrate`` and ``linju seed --demo`` would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command

from services.cli import database as db
from services.cli.seed import seed
from services.common.constraints import ConstraintViolations, constraint_name, rule_columns
from tests.test_db_constraints import CHECKS, SCHEMAS

BEFORE = {"gateway": "gat0003", "registry": "reg0003", "activities": "act0004", "evaluation": "eva0004"}
CHECKS_REVISION = {
    "gateway": "gat0004",
    "registry": "reg0004",
    "activities": "act0005",
    "evaluation": "eva0005",
}
# The hand-written checks the generated ones replace.
REPLACED = {
    "gateway": {"ck_webhook_deliveries_state"},
    "evaluation": {"ck_survey_responses_channel_known"},
}


def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def migrate(url: str, service: str, revision: str) -> None:
    command.upgrade(db.alembic_config(service, url), revision)


def checks_in(url: str, schema: str) -> set[str]:
    rows = sql(
        url,
        "SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE c.contype = 'c' AND n.nspname = $1",
        schema,
    )
    return {row["conname"] for row in rows}


def version_of(url: str, schema: str) -> str:
    return str(sql(url, f"SELECT version_num FROM {schema}.alembic_version")[0]["version_num"])  # noqa: S608


def generated_in(schema: str) -> set[str]:
    return {constraint_name(t.name, c) for t, c in CHECKS if t.schema == schema and rule_columns(c)}


@pytest.fixture
def demo_before_checks(tmp_path: Path) -> Iterator[str]:
    """A fresh embedded database at the revisions before the checks, holding the demo data."""
    database = db.open_database(tmp_path, url="")  # always a throwaway, whatever DATABASE_URL says
    try:
        for service, revision in BEFORE.items():
            migrate(database.url, service, revision)
        asyncio.run(seed(database.url, demo=True))
        yield database.url
    finally:
        database.stop()


def test_the_checks_upgrade_the_demo_data_and_downgrade(demo_before_checks: str) -> None:
    url = demo_before_checks
    for service in SCHEMAS:
        before = checks_in(url, service)
        assert not generated_in(service) & before
        migrate(url, service, "head")
        assert version_of(url, service) == CHECKS_REVISION[service]
        after = checks_in(url, service)
        assert generated_in(service) <= after
        assert after == (before - REPLACED.get(service, set())) | generated_in(service)
        validated = sql(
            url,
            "SELECT bool_and(c.convalidated) AS ok FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'c' AND n.nspname = $1",
            service,
        )
        assert validated[0]["ok"] is True
        # Downgrade drops them (and brings back the hand-written ones), upgrade adds them again.
        command.downgrade(db.alembic_config(service, url), BEFORE[service])
        assert checks_in(url, service) == before
        migrate(url, service, "head")
        assert checks_in(url, service) == after


def test_a_row_breaking_a_rule_stops_the_upgrade_and_changes_nothing(demo_before_checks: str) -> None:
    url = demo_before_checks
    # One broken row per lineage (and a second rule broken in activities), as a SQL script might
    # have left them: the rows the migrations must refuse to bless.
    bad_activity = sql(
        url,
        "INSERT INTO activities.activities (id, site_id, created_by, version, created_at, updated_at, "
        "category, title, is_theme, starts_at, ends_at, location, attendance, target_groups, "
        "partner_org_ids, evidence, has_sign_in_sheet, has_photo) SELECT gen_random_uuid(), site_id, "
        "'script', 1, now(), now(), 'children', title, is_theme, starts_at, ends_at, location, attendance, "
        "target_groups, partner_org_ids, evidence, has_sign_in_sheet, has_photo "
        "FROM activities.activities LIMIT 1 RETURNING id",
    )[0]["id"]
    bad_referral = sql(
        url,
        "UPDATE activities.referrals SET accepted_on = referred_on WHERE id = "
        "(SELECT id FROM activities.referrals WHERE status = 'open' ORDER BY id LIMIT 1) RETURNING id",
    )[0]["id"]
    bad_site = sql(
        url,
        "UPDATE registry.sites SET status = 'archived' WHERE id = "
        "(SELECT id FROM registry.sites ORDER BY code LIMIT 1) RETURNING id",
    )[0]["id"]
    bad_user = sql(url, "UPDATE gateway.users SET role = 'root' WHERE username = 'operator' RETURNING id")[0][
        "id"
    ]
    bad_round = uuid.uuid4()
    sql(
        url,
        "INSERT INTO evaluation.rounds (id, year, kind, title, period_start, period_end, rubric_version, "
        "state, created_by, version, created_at, updated_at) VALUES ($1, 2026, 'final', '', '2026-01-01', "
        "'2026-06-30', '2023-draft', 'archived', 'script', 1, now(), now())",
        bad_round,
    )
    expected = {
        "activities": [
            ("activities.activities (category)", "ck_activities_category_enum", bad_activity),
            (
                "activities.referrals (accepted_on, status)",
                "ck_referrals_accepted_on_when_status",
                bad_referral,
            ),
        ],
        "registry": [("registry.sites (status)", "ck_sites_status_enum", bad_site)],
        "gateway": [("gateway.users (role)", "ck_users_role_enum", bad_user)],
        "evaluation": [("evaluation.rounds (state)", "ck_rounds_state_enum", bad_round)],
    }

    for service, problems in expected.items():
        before = checks_in(url, service)
        with pytest.raises(ConstraintViolations) as refused:
            migrate(url, service, "head")
        message = str(refused.value)
        assert "nothing was changed" in message
        assert len(message.splitlines()) == 1 + len(problems)  # one line per broken constraint
        for where, constraint, row_id in problems:
            line = next(line for line in message.splitlines() if constraint in line)
            assert where in line and "1 row break" in line and str(row_id) in line, line
        # Nothing of the migration is left: the lineage where it was, no new constraint.
        assert version_of(url, service) == BEFORE[service]
        assert checks_in(url, service) == before

    # The rows are as they were: nothing was edited to make the migration pass.
    assert (
        sql(url, "SELECT category FROM activities.activities WHERE id = $1", bad_activity)[0][0] == "children"
    )
    assert (
        sql(url, "SELECT accepted_on FROM activities.referrals WHERE id = $1", bad_referral)[0][0] is not None
    )
    assert sql(url, "SELECT status FROM registry.sites WHERE id = $1", bad_site)[0][0] == "archived"
    assert sql(url, "SELECT role FROM gateway.users WHERE id = $1", bad_user)[0][0] == "root"
    assert sql(url, "SELECT state FROM evaluation.rounds WHERE id = $1", bad_round)[0][0] == "archived"

    # Repaired (README, "A stored record breaks a rule"), the same migrations go through.
    sql(url, "UPDATE activities.activities SET category = 'infant' WHERE id = $1", bad_activity)
    sql(url, "UPDATE activities.referrals SET accepted_on = NULL WHERE id = $1", bad_referral)
    sql(url, "UPDATE registry.sites SET status = 'closed' WHERE id = $1", bad_site)
    sql(url, "UPDATE gateway.users SET role = 'operator' WHERE id = $1", bad_user)
    sql(url, "UPDATE evaluation.rounds SET state = 'open' WHERE id = $1", bad_round)
    for service in SCHEMAS:
        migrate(url, service, "head")
        assert version_of(url, service) == CHECKS_REVISION[service]
        assert generated_in(service) <= checks_in(url, service)

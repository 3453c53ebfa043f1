"""The database holds the invariants (issue 15): PostgreSQL refuses what the API refuses.

* Every enum column of the four schemas (discovered from the models: parametrized by
  ``schema.table.column``) refuses an unknown code written by raw SQL, and its constraint, read back
  from ``pg_constraint``, admits exactly the codes of its Python enum — a member added in Python
  without a migration fails here.
* Every CHECK the models define is, word for word as PostgreSQL normalises it, the one the migrated
  database holds, and the database holds no other; each state rule refuses an impossible row.
* No column that looks like it holds an enum's codes (its name is a pydantic enum field's, or an
  enum's) is left without a constraint, except the few listed below with the reason.

The ``stack`` fixture's database is migrated by Alembic (not created from the models), so these
compare the migrations with the models. Rows are written in transactions that are rolled back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import importlib
import json
import pkgutil
import re
import typing
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel
from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
)

import services
from services.common.constraints import ENUM_RULE, EnumRule, constraint_name, rule_columns
from services.common.enums import ENUMS, enum_name
from tests.conftest import RunningStack, _asyncpg_dsn

SCHEMAS = ("gateway", "registry", "activities", "evaluation")
METADATA: dict[str, MetaData] = {s: importlib.import_module(f"services.{s}.models").metadata for s in SCHEMAS}
TABLES: list[Table] = sorted(
    (table for metadata in METADATA.values() for table in metadata.tables.values()), key=lambda t: t.fullname
)
CHECKS: list[tuple[Table, CheckConstraint]] = [
    (table, check)
    for table in TABLES
    for check in sorted(
        (c for c in table.constraints if isinstance(c, CheckConstraint)), key=lambda c: str(c.name)
    )
]
ENUM_COLUMNS: list[tuple[Table, CheckConstraint, EnumRule]] = [
    (table, check, check.info[ENUM_RULE]) for table, check in CHECKS if ENUM_RULE in check.info
]
STATE_RULES = [
    (table, check) for table, check in CHECKS if rule_columns(check) and ENUM_RULE not in check.info
]

# Columns whose names look like an enum's but that hold no API vocabulary.
NOT_ENUM_COLUMNS = {
    **{
        f"{schema}.audit_log.actor_role": "the writer's principal role, which includes the internal "
        "`service` and `system` actors besides the API's roles"
        for schema in SCHEMAS
    },
    "gateway.webhook_deliveries.source": "the name of the domain service whose feed the event came "
    "from, written by the dispatcher only",
    "registry.filings.funding_source": "free text (区级财政+街道配套)",
}

UNKNOWN = "bogus"  # short enough for the narrowest code column (VARCHAR(8))
AT = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
ON = dt.date(2026, 1, 5)

# For each state rule, a row it must refuse (on top of a row that passes every rule).
IMPOSSIBLE_ROWS: dict[str, dict[str, Any]] = {
    "ck_activity_plans_published_late_when_published": {"published_late": True, "published_at": None},
    "ck_referrals_accepted_on_when_status": {"status": "open", "accepted_on": ON},
    "ck_referrals_closed_on_when_status": {"status": "closed", "accepted_on": ON, "closed_on": None},
    "ck_rounds_closed_at_when_state": {"state": "closed", "closed_at": None},
    "ck_rounds_published_at_when_state": {"state": "open", "published_at": AT},
    "ck_scorecards_submitted_at_when_state": {"state": "returned", "submitted_at": None},
    "ck_scorecards_accepted_at_when_state": {"state": "submitted", "submitted_at": AT, "accepted_at": AT},
    "ck_scorecards_tier_when_state": {"state": "draft", "tier": "basic"},
    "ck_improvement_plans_verified_at_when_state": {"state": "done", "verified_at": AT},
    "ck_improvement_plans_verified_by_when_state": {"state": "verified", "verified_at": AT},
    "ck_webhook_deliveries_delivered_at_when_state": {"state": "pending", "delivered_at": AT},
    "ck_filings_site_id_when_approved": {"state": "approved", "kind": "hub_plan", "site_id": None},
    "ck_filing_transitions_move_known": {"from_state": "draft", "to_state": "approved"},
}


def _name(table: Table, check: CheckConstraint) -> str:
    return constraint_name(table.name, check)


# ---- rows ------------------------------------------------------------------------------------------


def valid_row(table: Table) -> dict[str, Any]:
    """A row of ``table`` that passes every CHECK: the first code of each enum column, NULL where
    allowed (states are their first member, so no state rule asks for a date), a harmless value
    elsewhere. Foreign keys are not satisfied: PostgreSQL checks a CHECK first."""
    codes = {rule.column: rule for t, _, rule in ENUM_COLUMNS if t is table}
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.identity is not None or column.server_default is not None:
            continue
        if column.primary_key and isinstance(column.type, Integer) and column.autoincrement is True:
            continue  # SERIAL
        if column.name in codes:
            rule = codes[column.name]
            row[column.name] = [] if rule.array else (None if column.nullable else rule.values[0])
        elif column.nullable:
            row[column.name] = None
        else:
            row[column.name] = _value(column.type)
    return row


def _value(type_: Any) -> Any:
    if isinstance(type_, ARRAY):
        return []
    if isinstance(type_, Uuid):
        return uuid.uuid4()
    if isinstance(type_, Boolean):
        return False
    if isinstance(type_, Numeric):
        return Decimal(1)
    if isinstance(type_, Integer):
        return 1
    if isinstance(type_, DateTime):
        return AT
    if isinstance(type_, Date):
        return ON
    if isinstance(type_, JSON):
        return json.dumps({})
    if isinstance(type_, LargeBinary):
        return b""
    if isinstance(type_, String):
        return "x"
    raise AssertionError(f"no test value for {type_!r}")


def insert_error(stack: RunningStack, table: Table, row: dict[str, Any]) -> asyncpg.PostgresError | None:
    """What PostgreSQL answers to inserting ``row`` (None: it took it); rolled back either way."""
    columns = ", ".join(row)
    placeholders = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    sql = f"INSERT INTO {table.fullname} ({columns}) VALUES ({placeholders})"  # noqa: S608 - the models' names
    return sql_error(stack, sql, *row.values())


def sql_error(stack: RunningStack, sql: str, *args: Any) -> asyncpg.PostgresError | None:
    """The error ``sql`` raises (None: none), in a transaction that is rolled back: nothing a test
    writes here stays for the other tests of the session."""

    async def run() -> asyncpg.PostgresError | None:
        conn = await asyncpg.connect(_asyncpg_dsn(stack.database_url))
        try:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await conn.execute(sql, *args)
            except asyncpg.PostgresError as error:
                return error
            finally:
                await transaction.rollback()
            return None
        finally:
            await conn.close()

    return asyncio.run(run())


def stored_definition(stack: RunningStack, table: Table, name: str) -> tuple[str, bool] | None:
    rows = stack.sql(
        "SELECT pg_get_constraintdef(oid) AS definition, convalidated FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND conname = $2",
        table.fullname,
        name,
    )
    return (rows[0]["definition"], rows[0]["convalidated"]) if rows else None


# ---- enum columns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "check", "rule"), ENUM_COLUMNS, ids=[f"{t.fullname}.{r.column}" for t, _, r in ENUM_COLUMNS]
)
def test_an_unknown_code_is_refused(
    stack: RunningStack, table: Table, check: CheckConstraint, rule: EnumRule
) -> None:
    row = valid_row(table)
    row[rule.column] = [UNKNOWN] if rule.array else UNKNOWN
    error = insert_error(stack, table, row)
    assert isinstance(error, asyncpg.CheckViolationError), (
        f"{table.fullname} stored {rule.column}={UNKNOWN!r}: {error!r}"
    )
    # PostgreSQL names the first refusing CHECK (by name): a state rule reading the column may come
    # first (no move leads to an unknown state); the enum constraint itself is read back below.
    also_refusing = {_name(t, c) for t, c in STATE_RULES if t is table and rule.column in rule_columns(c)}
    assert error.constraint_name in {_name(table, check)} | also_refusing


@pytest.mark.parametrize(
    ("table", "check", "rule"), ENUM_COLUMNS, ids=[f"{t.fullname}.{r.column}" for t, _, r in ENUM_COLUMNS]
)
def test_the_constraint_admits_exactly_the_enum_codes(
    stack: RunningStack, table: Table, check: CheckConstraint, rule: EnumRule
) -> None:
    stored = stored_definition(stack, table, _name(table, check))
    assert stored is not None, f"{_name(table, check)} is missing from the database: a migration must add it"
    definition, validated = stored
    assert validated, f"{_name(table, check)} was added NOT VALID and never validated"
    in_database = set(re.findall(r"'((?:[^']|'')*)'", definition))
    members = {member.value for member in rule.enum}
    assert set(rule.values) <= members
    if len(rule.values) == len(members):  # the whole enum (not a subset such as the users' roles)
        assert set(rule.values) == members
    assert in_database == set(rule.values), (
        f"{rule.enum.__name__} and {_name(table, check)} disagree: Python only "
        f"{sorted(set(rule.values) - in_database)}, database only {sorted(in_database - set(rule.values))}. "
        "Write a migration: "
        "add_checks(schema, [(table, codes_check(column, codes))], replace=True)"
    )


def test_the_psql_insert_of_issue_15_is_refused(stack: RunningStack) -> None:
    """The activity that broke the street's list: category `children` is not one of the ten (5.4)."""
    error = sql_error(
        stack,
        "INSERT INTO activities.activities (id, site_id, created_by, version, created_at, updated_at, "
        "category, title, is_theme, starts_at, ends_at, location, attendance, target_groups, "
        "partner_org_ids, evidence, has_sign_in_sheet, has_photo) VALUES (gen_random_uuid(), "
        "gen_random_uuid(), 'psql', 1, now(), now(), 'children', '亲子活动', false, now(), now(), '', 10, "
        "'{}', '{}', '[]', false, false)",
    )
    assert isinstance(error, asyncpg.CheckViolationError)
    assert error.constraint_name == "ck_activities_category_enum"


# ---- every CHECK, and only those -------------------------------------------------------------------


@pytest.mark.parametrize(("table", "check"), CHECKS, ids=[_name(t, c) for t, c in CHECKS])
def test_the_database_holds_the_models_check(
    stack: RunningStack, table: Table, check: CheckConstraint
) -> None:
    """The model's condition, put on an empty copy of the table, reads back exactly as the stored one."""
    stored = stored_definition(stack, table, _name(table, check))
    assert stored is not None, f"{_name(table, check)} is missing from the database: a migration must add it"

    async def model_definition() -> str:
        conn = await asyncpg.connect(_asyncpg_dsn(stack.database_url))
        try:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await conn.execute(f"CREATE TEMP TABLE probe (LIKE {table.fullname})")
                await conn.execute(f"ALTER TABLE probe ADD CONSTRAINT probe_check CHECK ({check.sqltext})")
                return str(
                    await conn.fetchval(
                        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = 'probe'::regclass AND conname = 'probe_check'"
                    )
                )
            finally:
                await transaction.rollback()
        finally:
            await conn.close()

    assert stored[0] == asyncio.run(model_definition())


def test_the_database_holds_no_other_check(stack: RunningStack) -> None:
    rows = stack.sql(
        "SELECT n.nspname || '.' || t.relname AS table_name, c.conname FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE c.contype = 'c' AND n.nspname = ANY($1::text[])",
        list(SCHEMAS),
    )
    in_database = {(r["table_name"], r["conname"]) for r in rows}
    assert in_database == {(t.fullname, _name(t, c)) for t, c in CHECKS}


@pytest.mark.parametrize(("table", "check"), STATE_RULES, ids=[_name(t, c) for t, c in STATE_RULES])
def test_a_state_rule_refuses_an_impossible_row(
    stack: RunningStack, table: Table, check: CheckConstraint
) -> None:
    name = _name(table, check)
    assert name in IMPOSSIBLE_ROWS, f"add a row {name} must refuse to IMPOSSIBLE_ROWS"
    row = {**valid_row(table), **IMPOSSIBLE_ROWS[name]}
    error = insert_error(stack, table, row)
    assert isinstance(error, asyncpg.CheckViolationError), (
        f"{table.fullname} stored {IMPOSSIBLE_ROWS[name]}: {error!r}"
    )
    assert error.constraint_name == name


# ---- no enum column left out -----------------------------------------------------------------------


def _enum_field_names() -> set[str]:
    """Names of the pydantic fields (any model of the services) typed with one of the enums."""
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if not module.name.startswith("services.cli"):
            importlib.import_module(module.name)

    def has_enum(annotation: Any) -> bool:
        if isinstance(annotation, type) and issubclass(annotation, enum.StrEnum) and annotation in ENUMS:
            return True
        return any(has_enum(arg) for arg in typing.get_args(annotation))

    def models(cls: type[BaseModel]) -> typing.Iterator[type[BaseModel]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from models(sub)

    return {
        name
        for model in models(BaseModel)
        if model.__module__.startswith("services.")
        for name, field in model.model_fields.items()
        if has_enum(field.annotation)
    }


def test_every_column_that_holds_codes_is_constrained() -> None:
    """A column is taken for an enum's when a pydantic field typed with an enum has its name, or its
    name is an enum's (``site_status``), ends like one (``actor_role``, ``…_state``) or is a plural
    (``target_groups``): it needs a ``*_enum`` constraint, or a reason in NOT_ENUM_COLUMNS."""
    words = {enum_name(e) for e in ENUMS} | {enum_name(e).rsplit("_", 1)[-1] for e in ENUMS}
    fields = _enum_field_names()
    constrained = {f"{t.fullname}.{rule.column}" for t, _, rule in ENUM_COLUMNS}
    looks_like_codes = set()
    for table in TABLES:
        for column in table.columns:
            item = column.type.item_type if isinstance(column.type, ARRAY) else column.type
            if not isinstance(item, String):
                continue
            name = column.name
            if (
                name in fields
                or name in words
                or any(name.endswith(f"_{w}") or name == f"{w}s" for w in words)
            ):
                looks_like_codes.add(f"{table.fullname}.{name}")
    assert looks_like_codes - constrained - set(NOT_ENUM_COLUMNS) == set()
    assert set(NOT_ENUM_COLUMNS) <= looks_like_codes - constrained  # the exceptions are still real


def test_every_enum_column_is_listed() -> None:
    """The parametrized tests above cover all four schemas (a guard against a model module that
    stopped importing its domains)."""
    assert {t.schema for t, _, _ in ENUM_COLUMNS} == set(SCHEMAS)

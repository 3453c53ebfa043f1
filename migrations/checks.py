"""Adding CHECK constraints to a database that is in use, without ever changing a stored row.

:func:`add_checks` adds each constraint ``NOT VALID`` (no scan, and from then on every write is
checked), counts the stored rows that break it, and — only when there are none —
``VALIDATE CONSTRAINT``. If any row breaks any of the new constraints it raises
:class:`~services.common.constraints.ConstraintViolations` naming, for each, the table, the
columns, the constraint, how many rows and the keys of the first few: the migration stops, and
since each lineage's upgrade is one transaction (``migrations/env_common.py`` runs it inside
``engine.begin()``, so Alembic opens no transaction of its own), nothing of it is kept. Rows are
never edited here: what a bad row should have said is for a person to decide (README,
"A stored record breaks a rule").

The constraints are built by :mod:`services.common.constraints`, the helpers the models use; a
migration passes the codes of its day (``codes_check``), not the live enum, so the database changes
only with a migration.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import CheckConstraint, text
from sqlalchemy.engine import Connection

from services.common.constraints import ConstraintViolations, constraint_name, rule_columns

# ADD CONSTRAINT takes an exclusive lock on the table until the migration commits. Waiting for it
# behind a long transaction (an export streaming for minutes) would queue every other query on the
# table behind the migration: give up instead, with nothing changed, and let it be retried.
LOCK_TIMEOUT = "10s"
SHOWN_KEYS = 5

TableChecks = Sequence[tuple[str, CheckConstraint]]
# A hand-written constraint a generated one takes the place of: (table, name, condition).
Replaced = Sequence[tuple[str, str, str]]


def add_checks(schema: str, checks: TableChecks, *, replace: bool = False, replacing: Replaced = ()) -> None:
    """Add ``checks`` ((table, constraint) pairs) to ``schema``'s tables, or refuse with every
    stored row that breaks one of them and change nothing. ``replace``: a constraint of the same
    name goes first (a new member of an enum: the same constraint with the new codes);
    ``replacing``: hand-written constraints the new ones make redundant, dropped once they hold."""
    connection = op.get_bind()
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    for table, check in checks:
        if replace:
            connection.exec_driver_sql(
                f"ALTER TABLE {schema}.{table} DROP CONSTRAINT IF EXISTS {constraint_name(table, check)}"
            )
        connection.exec_driver_sql(
            f"ALTER TABLE {schema}.{table} ADD CONSTRAINT {constraint_name(table, check)} "
            f"CHECK ({check.sqltext}) NOT VALID"
        )
    # Counted after the constraints are in place: the table locks keep new rows out meanwhile, so
    # the count is exact, and VALIDATE would only fail without naming any row.
    problems = [
        problem for table, check in checks if (problem := _violations(connection, schema, table, check))
    ]
    if problems:
        raise ConstraintViolations(
            f"Stored rows of the {schema} schema break {len(problems)} of the constraints its "
            "migration adds; nothing was changed. Repair the rows (README, operations: 'A stored "
            "record breaks a rule') and run the migration again.\n" + "\n".join(problems)
        )
    for table, check in checks:
        connection.exec_driver_sql(
            f"ALTER TABLE {schema}.{table} VALIDATE CONSTRAINT {constraint_name(table, check)}"
        )
    for table, name, _ in replacing:
        connection.exec_driver_sql(f"ALTER TABLE {schema}.{table} DROP CONSTRAINT {name}")
    connection.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")


def drop_checks(schema: str, checks: TableChecks, *, restoring: Replaced = ()) -> None:
    """The downgrade of :func:`add_checks`: ``checks`` dropped, the ``replacing`` ones back."""
    for table, name, condition in restoring:
        op.execute(f"ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} CHECK ({condition})")
    for table, check in reversed(checks):
        op.execute(f"ALTER TABLE {schema}.{table} DROP CONSTRAINT {constraint_name(table, check)}")


def _violations(connection: Connection, schema: str, table: str, check: CheckConstraint) -> str | None:
    """``None``, or one line naming the rows of ``table`` that break ``check``."""
    key = _primary_key(connection, schema, table)
    # A CHECK refuses a row when its condition is false (NULL passes): exactly NOT (condition).
    broken = f"FROM {schema}.{table} WHERE NOT ({check.sqltext})"
    count = connection.exec_driver_sql(f"SELECT count(*) {broken}").scalar_one()
    if not count:
        return None
    keys = connection.exec_driver_sql(
        f"SELECT concat_ws('/', {', '.join(key)}) {broken} ORDER BY {', '.join(key)} LIMIT {SHOWN_KEYS}"
    ).scalars()
    columns = ", ".join(rule_columns(check)) or "?"
    return (
        f"  {schema}.{table} ({columns}): {count} row{'s' if count != 1 else ''} break "
        f"{constraint_name(table, check)} CHECK ({check.sqltext}); the first by {'/'.join(key)}: "
        + ", ".join(str(k) for k in keys)
    )


def _primary_key(connection: Connection, schema: str, table: str) -> list[str]:
    rows = connection.execute(
        text(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indrelid = CAST(:table AS regclass) AND i.indisprimary "
            "ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)"
        ),
        {"table": f"{schema}.{table}"},
    ).scalars()
    return [str(name) for name in rows]

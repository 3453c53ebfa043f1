"""项目资金专账核算 (6.1.5): fund accounts, their budget lines, and the entries spent against them.

Rules:

* an entry never takes its line's spent total past the line's budget (409 ``budget_line_exceeded``);
  every entry write first locks the account row, so concurrent entries are checked one after the other;
* a line's budget may not drop below what is already spent, nor a line with entries disappear;
* an entry may be corrected for 24 hours after it was recorded; afterwards it is locked
  (409 ``entry_locked``) and only a negative entry reversing it (``reverses_entry_id``, same line, in
  total at most the reversed amount) corrects it. Negative amounts exist only as such reversals.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.funds.models import FundAccount, FundBudgetLine, FundEntry
from services.activities.funds.schemas import (
    BudgetLineRead,
    FundAccountCreate,
    FundAccountRead,
    FundAccountReport,
    FundAccountUpdate,
    FundEntryCreate,
    FundEntryRead,
    FundEntryUpdate,
    FundLineReport,
)
from services.activities.records import RecordKind
from services.activities.scope import ensure_can_write_site
from services.common.auth import Principal
from services.common.errors import Conflict, NotFound, ValidationFailed, define_titles
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import utc_now

CORRECTION_WINDOW = dt.timedelta(hours=24)
RATE_PLACES = Decimal("0.0001")

define_titles(
    {
        "fund_account_not_found": ("Fund account not found", "项目资金专账不存在"),
        "fund_account_exists": ("Fund account already exists", "该项目资金专账已存在"),
        "fund_entry_not_found": ("Fund entry not found", "资金支出记录不存在"),
        "budget_line_exceeded": ("Budget line exceeded", "超出预算科目金额"),
        "budget_line_in_use": ("Budget line has entries", "该预算科目已有支出记录"),
        "account_has_entries": ("Fund account has entries", "专账已有支出记录,不能删除"),
        "entry_locked": ("Entry can no longer be corrected", "支出记录已超过更正期限"),
    }
)

FUND_ACCOUNTS = RecordKind(
    model=FundAccount,
    object_type="fund_account",
    label_en="fund account",
    label_zh="项目资金专账",
    # Accounts have no business date: they are listed in the order they were opened.
    date_column="created_at",
)


def _entry_not_found() -> NotFound:
    return NotFound(
        "No fund entry with this id.", detail_zh="资金支出记录不存在。", code="fund_entry_not_found"
    )


def _budget_exceeded(line: str, budget: Decimal, spent: Decimal) -> Conflict:
    return Conflict(
        f"Budget line '{line}' would be exceeded: budget {budget}, spent {spent}.",
        detail_zh=f"超出预算科目“{line}”:预算 {budget},已支出 {spent}。",
        code="budget_line_exceeded",
        line=line,
        budget=str(budget),
        spent=str(spent),
    )


# ---- accounts --------------------------------------------------------------------------------------


async def _lines_of(
    session: AsyncSession, account_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[BudgetLineRead]]:
    lines: dict[uuid.UUID, list[BudgetLineRead]] = {account_id: [] for account_id in account_ids}
    if not account_ids:
        return lines
    rows = await session.execute(
        select(FundBudgetLine.account_id, FundBudgetLine.line, FundBudgetLine.amount)
        .where(FundBudgetLine.account_id.in_(account_ids))
        .order_by(FundBudgetLine.account_id, FundBudgetLine.line)
    )
    for account_id, line, amount in rows:
        lines[account_id].append(BudgetLineRead(line=line, amount=amount))
    return lines


def _account_read(row: FundAccount, lines: list[BudgetLineRead]) -> FundAccountRead:
    return FundAccountRead(
        id=row.id,
        site_id=row.site_id,
        project=row.project,
        year=row.year,
        budget_lines=lines,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def account_read(session: AsyncSession, row: FundAccount) -> FundAccountRead:
    return _account_read(row, (await _lines_of(session, [row.id]))[row.id])


async def _account_snapshot(session: AsyncSession, row: FundAccount) -> dict[str, Any]:
    lines = (await _lines_of(session, [row.id]))[row.id]
    return {**records.snapshot(row), "budget_lines": [line.model_dump(mode="json") for line in lines]}


async def list_accounts(
    session: AsyncSession, principal: Principal, page: PageParams, filters: list[Any]
) -> tuple[list[FundAccountRead], str | None]:
    rows, cursor = await records.list_records(session, principal, FUND_ACCOUNTS, page, filters)
    lines = await _lines_of(session, [row.id for row in rows])
    return [_account_read(row, lines[row.id]) for row in rows], cursor


async def _ensure_unique(
    session: AsyncSession, site_id: uuid.UUID, project: str, year: int, *, other_than: uuid.UUID | None = None
) -> None:
    """One account per site, project and year; concurrent writers of the same one are serialised."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"fund_account\x1f{site_id}\x1f{project}\x1f{year}"},
    )
    stmt = select(FundAccount.id).where(
        FundAccount.site_id == site_id, FundAccount.project == project, FundAccount.year == year
    )
    if other_than is not None:
        stmt = stmt.where(FundAccount.id != other_than)
    duplicate = await session.scalar(stmt)
    if duplicate is not None:
        raise Conflict(
            f"The site already has a fund account for '{project}' in {year}.",
            detail_zh=f"该站点 {year} 年已有“{project}”项目资金专账。",
            code="fund_account_exists",
            account_id=str(duplicate),
        )


async def create_account(
    session: AsyncSession, request: Request, principal: Principal, body: FundAccountCreate
) -> FundAccountRead:
    await ensure_can_write_site(request, principal, body.site_id)
    await _ensure_unique(session, body.site_id, body.project, body.year)
    row = FundAccount(site_id=body.site_id, project=body.project, year=body.year, created_by=principal.sub)
    session.add(row)
    await session.flush()
    session.add_all(
        FundBudgetLine(account_id=row.id, line=b.line, amount=b.amount) for b in body.budget_lines
    )
    await session.flush()
    after = await _account_snapshot(session, row)
    await records.audit(
        session, request, principal, "fund_account.create", FUND_ACCOUNTS.object_type, row.id, after=after
    )
    return await account_read(session, row)


async def _line_usage(session: AsyncSession, account_id: uuid.UUID) -> dict[str, tuple[Decimal, int]]:
    """Per line: the spent total and the number of entries (SUM/COUNT … GROUP BY line)."""
    rows = await session.execute(
        select(FundEntry.line, func.sum(FundEntry.amount), func.count())
        .where(FundEntry.account_id == account_id)
        .group_by(FundEntry.line)
    )
    return {line: (spent, count) for line, spent, count in rows}


async def update_account(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    account_id: uuid.UUID,
    body: FundAccountUpdate,
) -> FundAccount:
    row = await records.load_for_write(session, request, principal, FUND_ACCOUNTS, account_id)
    before = await _account_snapshot(session, row)
    if body.project is not None and body.project != row.project:
        await _ensure_unique(session, row.site_id, body.project, row.year, other_than=row.id)
        row.project = body.project
    if body.budget_lines is not None:
        new_budget = {b.line: b.amount for b in body.budget_lines}
        for line, (spent, count) in (await _line_usage(session, row.id)).items():
            if line not in new_budget:
                raise Conflict(
                    f"Budget line '{line}' has {count} entries and cannot be removed.",
                    detail_zh=f"预算科目“{line}”已有 {count} 条支出记录,不能删除。",
                    code="budget_line_in_use",
                    line=line,
                )
            if new_budget[line] < spent:
                raise _budget_exceeded(line, new_budget[line], spent)
        await session.execute(delete(FundBudgetLine).where(FundBudgetLine.account_id == row.id))
        session.add_all(
            FundBudgetLine(account_id=row.id, line=line, amount=amount) for line, amount in new_budget.items()
        )
    row.version += 1
    row.updated_at = utc_now()
    await session.flush()
    after = await _account_snapshot(session, row)
    await records.audit(
        session,
        request,
        principal,
        "fund_account.update",
        FUND_ACCOUNTS.object_type,
        row.id,
        before=before,
        after=after,
    )
    return row


async def delete_account(
    session: AsyncSession, request: Request, principal: Principal, account_id: uuid.UUID
) -> None:
    row = await records.load_for_write(session, request, principal, FUND_ACCOUNTS, account_id)
    if await session.scalar(select(exists().where(FundEntry.account_id == row.id))):
        raise Conflict(
            "The account has entries; it cannot be deleted (reverse them instead).",
            detail_zh="该专账已有支出记录,不能删除。",
            code="account_has_entries",
        )
    before = await _account_snapshot(session, row)
    await session.delete(row)
    await session.flush()
    await records.audit(
        session,
        request,
        principal,
        "fund_account.delete",
        FUND_ACCOUNTS.object_type,
        account_id,
        before=before,
    )


# ---- entries ---------------------------------------------------------------------------------------


def entry_read(row: FundEntry) -> FundEntryRead:
    return FundEntryRead(
        id=row.id,
        account_id=row.account_id,
        site_id=row.site_id,
        line=row.line,
        amount=row.amount,
        spent_on=row.spent_on,
        voucher_no=row.voucher_no,
        purpose=row.purpose,
        reverses_entry_id=row.reverses_entry_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        editable_until=row.created_at + CORRECTION_WINDOW,
    )


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    page: PageParams,
    *,
    line: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> tuple[list[FundEntry], str | None]:
    account = await records.get_record(session, principal, FUND_ACCOUNTS, account_id)
    stmt = select(FundEntry).where(FundEntry.account_id == account.id)
    if line is not None:
        stmt = stmt.where(FundEntry.line == line)
    if date_from is not None:
        stmt = stmt.where(FundEntry.spent_on >= date_from)
    if date_to is not None:
        stmt = stmt.where(FundEntry.spent_on <= date_to)
    return await keyset_page(session, stmt, [FundEntry.spent_on, FundEntry.id], page)


async def get_entry(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID, entry_id: uuid.UUID
) -> FundEntry:
    account = await records.get_record(session, principal, FUND_ACCOUNTS, account_id)
    entry = await session.scalar(
        select(FundEntry).where(FundEntry.id == entry_id, FundEntry.account_id == account.id)
    )
    if entry is None:
        raise _entry_not_found()
    return entry


async def _lock_account_for_entries(
    session: AsyncSession, request: Request, principal: Principal, account_id: uuid.UUID
) -> FundAccount:
    """The account row, locked: entry writes of one account run one after the other, so two concurrent
    entries can never both fit in the same remaining budget."""
    account = await records.get_record(session, principal, FUND_ACCOUNTS, account_id, for_update=True)
    await ensure_can_write_site(request, principal, account.site_id)
    return account


async def _budget_of(session: AsyncSession, account_id: uuid.UUID, line: str) -> Decimal:
    budget = await session.scalar(
        select(FundBudgetLine.amount).where(
            FundBudgetLine.account_id == account_id, FundBudgetLine.line == line
        )
    )
    if budget is None:
        raise ValidationFailed(
            "line", "is not a budget line of this account", message_zh="不是该专账的预算科目"
        )
    return budget


async def _spent_on_line(
    session: AsyncSession, account_id: uuid.UUID, line: str, *, excluding: uuid.UUID | None = None
) -> Decimal:
    stmt = select(func.coalesce(func.sum(FundEntry.amount), 0)).where(
        FundEntry.account_id == account_id, FundEntry.line == line
    )
    if excluding is not None:
        stmt = stmt.where(FundEntry.id != excluding)
    return Decimal(await session.scalar(stmt) or 0)


async def _reversed_total(
    session: AsyncSession, original_id: uuid.UUID, *, excluding: uuid.UUID | None = None
) -> Decimal:
    """How much of an entry has been reversed so far (a positive number)."""
    stmt = select(func.coalesce(func.sum(FundEntry.amount), 0)).where(
        FundEntry.reverses_entry_id == original_id
    )
    if excluding is not None:
        stmt = stmt.where(FundEntry.id != excluding)
    return -Decimal(await session.scalar(stmt) or 0)


async def _check_reversal(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    line: str,
    amount: Decimal,
    original_id: uuid.UUID,
    excluding: uuid.UUID | None = None,
) -> None:
    if amount > 0:
        raise ValidationFailed(
            "amount", "must be negative for a reversing entry", message_zh="冲销记录的金额必须为负数"
        )
    original = await session.scalar(
        select(FundEntry).where(FundEntry.id == original_id, FundEntry.account_id == account_id)
    )
    if original is None:
        raise ValidationFailed(
            "reverses_entry_id", "no such entry in this account", message_zh="该专账中没有这条支出记录"
        )
    if original.reverses_entry_id is not None or original.amount < 0:
        raise ValidationFailed(
            "reverses_entry_id",
            "a reversing entry cannot itself be reversed",
            message_zh="冲销记录不能再被冲销",
        )
    if original.line != line:
        raise ValidationFailed(
            "line",
            f"must be the reversed entry's line '{original.line}'",
            message_zh="必须与被冲销记录的科目一致",
        )
    reversible = original.amount - await _reversed_total(session, original.id, excluding=excluding)
    if -amount > reversible:
        raise ValidationFailed(
            "amount",
            f"reverses more than is left of the entry ({reversible} of {original.amount})",
            message_zh=f"冲销金额超过原记录剩余可冲销金额({reversible})",
        )


async def create_entry(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    account_id: uuid.UUID,
    body: FundEntryCreate,
) -> FundEntry:
    account = await _lock_account_for_entries(session, request, principal, account_id)
    budget = await _budget_of(session, account.id, body.line)
    if body.reverses_entry_id is not None:
        await _check_reversal(
            session, account.id, line=body.line, amount=body.amount, original_id=body.reverses_entry_id
        )
    elif body.amount < 0:
        raise ValidationFailed(
            "amount",
            "may be negative only to reverse an earlier entry (give reverses_entry_id)",
            message_zh="金额只有在冲销已有记录时才能为负数(需提供 reverses_entry_id)",
        )
    spent = await _spent_on_line(session, account.id, body.line)
    if spent + body.amount > budget:
        raise _budget_exceeded(body.line, budget, spent)
    entry = FundEntry(
        account_id=account.id, site_id=account.site_id, created_by=principal.sub, **body.model_dump()
    )
    session.add(entry)
    await session.flush()
    await records.audit(
        session,
        request,
        principal,
        "fund_entry.create",
        "fund_entry",
        entry.id,
        after=records.snapshot(entry),
    )
    return entry


async def update_entry(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    account_id: uuid.UUID,
    entry_id: uuid.UUID,
    body: FundEntryUpdate,
) -> FundEntry:
    account = await _lock_account_for_entries(session, request, principal, account_id)
    entry = await session.scalar(
        select(FundEntry)
        .where(FundEntry.id == entry_id, FundEntry.account_id == account.id)
        .with_for_update()
    )
    if entry is None:
        raise _entry_not_found()
    require_if_match(request, entry.id, entry.version)
    if utc_now() > entry.created_at + CORRECTION_WINDOW:
        raise Conflict(
            "Entries can be corrected only within 24 hours; record a reversing entry instead.",
            detail_zh="支出记录只能在录入后24小时内更正,请录入冲销记录。",
            code="entry_locked",
        )
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    line = changes.get("line", entry.line)
    amount = changes.get("amount", entry.amount)
    budget = await _budget_of(session, account.id, line)
    if entry.reverses_entry_id is not None:
        await _check_reversal(
            session,
            account.id,
            line=line,
            amount=amount,
            original_id=entry.reverses_entry_id,
            excluding=entry.id,
        )
    else:
        if amount < 0:
            raise ValidationFailed(
                "amount",
                "may be negative only on a reversing entry",
                message_zh="只有冲销记录的金额可以为负数",
            )
        reversed_total = await _reversed_total(session, entry.id)
        if reversed_total and line != entry.line:
            raise ValidationFailed(
                "line", "cannot change: the entry has reversals", message_zh="该记录已被冲销,不能更改科目"
            )
        if amount < reversed_total:
            raise ValidationFailed(
                "amount",
                f"must not be below what was already reversed ({reversed_total})",
                message_zh=f"不能低于已冲销金额({reversed_total})",
            )
    spent = await _spent_on_line(session, account.id, line, excluding=entry.id)
    if spent + amount > budget:
        raise _budget_exceeded(line, budget, spent)
    before = records.snapshot(entry)
    for key, value in changes.items():
        setattr(entry, key, value)
    entry.version += 1
    entry.updated_at = utc_now()
    await session.flush()
    await records.audit(
        session,
        request,
        principal,
        "fund_entry.update",
        "fund_entry",
        entry.id,
        before=before,
        after=records.snapshot(entry),
    )
    return entry


# ---- report ----------------------------------------------------------------------------------------


def _line_report(line: str, budget: Decimal, spent: Decimal) -> FundLineReport:
    rate = (spent / budget).quantize(RATE_PLACES) if budget else None
    return FundLineReport(line=line, budget=budget, spent=spent, remaining=budget - spent, rate=rate)


async def report(session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> FundAccountReport:
    account = await records.get_record(session, principal, FUND_ACCOUNTS, account_id)
    spent = func.coalesce(func.sum(FundEntry.amount), 0)
    rows = (
        await session.execute(
            select(FundBudgetLine.line, FundBudgetLine.amount, spent)
            .select_from(FundBudgetLine)
            .outerjoin(
                FundEntry,
                (FundEntry.account_id == FundBudgetLine.account_id) & (FundEntry.line == FundBudgetLine.line),
            )
            .where(FundBudgetLine.account_id == account.id)
            .group_by(FundBudgetLine.line, FundBudgetLine.amount)
            .order_by(FundBudgetLine.line)
        )
    ).all()
    lines = [_line_report(line, budget, Decimal(total)) for line, budget, total in rows]
    total = _line_report(
        "total", sum((r.budget for r in lines), Decimal(0)), sum((r.spent for r in lines), Decimal(0))
    )
    return FundAccountReport(
        account_id=account.id,
        site_id=account.site_id,
        project=account.project,
        year=account.year,
        lines=lines,
        total=total,
    )

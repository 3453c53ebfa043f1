"""`/fund-accounts` — 项目资金专账核算 (6.1.5): budget lines, entries, budget-vs-actual report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.funds import service
from services.activities.funds.schemas import (
    FundAccountCreate,
    FundAccountRead,
    FundAccountReport,
    FundAccountUpdate,
    FundEntryCreate,
    FundEntryRead,
    FundEntryUpdate,
)
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate

router = APIRouter(prefix="/fund-accounts", tags=["funds"])
Account = service.FUND_ACCOUNTS.model


@router.get("", response_model=Page[FundAccountRead], summary="List fund accounts")
async def list_fund_accounts(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    project: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[FundAccountRead]:
    """Project fund accounts (项目资金专账) of the sites you may see, with their budget lines, in the
    order they were opened. Amounts are decimal strings in yuan."""
    filters = []
    if site_id is not None:
        filters.append(Account.site_id == site_id)
    if year is not None:
        filters.append(Account.year == year)
    if project is not None:
        filters.append(Account.project == project)
    items, cursor = await service.list_accounts(session, principal, page, filters)
    return Page(items=items, next_cursor=cursor)


@router.post("", response_model=FundAccountRead, status_code=201, summary="Open a fund account")
async def create_fund_account(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: FundAccountCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """One account per site, project and year (409 `fund_account_exists`), with its budget lines
    (unique names, amounts ≥ 0 as decimal strings such as `"12000.50"`)."""

    async def create() -> FundAccountRead:
        return await service.create_account(session, request, principal, body)

    return await idempotency.run(create)


@router.get("/{account_id}", response_model=FundAccountRead, summary="Get a fund account")
async def get_fund_account(
    session: DbSession, principal: Reader, account_id: uuid.UUID, response: Response
) -> FundAccountRead:
    row = await records.get_record(session, principal, service.FUND_ACCOUNTS, account_id)
    set_etag(response, row.id, row.version)
    return await service.account_read(session, row)


@router.patch("/{account_id}", response_model=FundAccountRead, summary="Update a fund account")
async def update_fund_account(
    request: Request,
    session: DbSession,
    principal: Writer,
    account_id: uuid.UUID,
    body: FundAccountUpdate,
    response: Response,
) -> FundAccountRead:
    """Needs `If-Match`. `budget_lines` replaces the whole list: a line may not drop below what is
    already spent on it (409 `budget_line_exceeded`) nor disappear while it has entries (409
    `budget_line_in_use`)."""
    row = await service.update_account(session, request, principal, account_id, body)
    set_etag(response, row.id, row.version)
    return await service.account_read(session, row)


@router.delete("/{account_id}", status_code=204, summary="Delete a fund account")
async def delete_fund_account(
    request: Request, session: DbSession, principal: Writer, account_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. Only an account without entries can be deleted (409 `account_has_entries`)."""
    await service.delete_account(session, request, principal, account_id)
    return Response(status_code=204)


@router.get("/{account_id}/entries", response_model=Page[FundEntryRead], summary="List fund entries")
async def list_fund_entries(
    session: DbSession,
    principal: Reader,
    account_id: uuid.UUID,
    page: Pagination,
    line: Annotated[str | None, Query(max_length=100)] = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
) -> Page[FundEntryRead]:
    """The account's entries by `spent_on` (inclusive `from`/`to`), reversals included."""
    rows, cursor = await service.list_entries(
        session, principal, account_id, page, line=line, date_from=date_from, date_to=date_to
    )
    return Page(items=[service.entry_read(r) for r in rows], next_cursor=cursor)


@router.post(
    "/{account_id}/entries", response_model=FundEntryRead, status_code=201, summary="Record a fund entry"
)
async def create_fund_entry(
    request: Request,
    session: DbSession,
    principal: Writer,
    account_id: uuid.UUID,
    body: FundEntryCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Records money spent on a budget line. An entry that would take the line's spent total past its
    budget → 409 `budget_line_exceeded`. A negative amount is allowed only as a reversal of an earlier
    entry of the same line (`reverses_entry_id`; all reversals of an entry together at most its
    amount) — the only way to correct an entry after its 24-hour correction window."""
    etag: dict[str, str] = {}

    async def create() -> FundEntryRead:
        entry = await service.create_entry(session, request, principal, account_id, body)
        etag["ETag"] = make_etag(entry.id, entry.version)
        return service.entry_read(entry)

    return await idempotency.run(create, headers=lambda _: etag)


@router.get("/{account_id}/entries/{entry_id}", response_model=FundEntryRead, summary="Get a fund entry")
async def get_fund_entry(
    session: DbSession, principal: Reader, account_id: uuid.UUID, entry_id: uuid.UUID, response: Response
) -> FundEntryRead:
    entry = await service.get_entry(session, principal, account_id, entry_id)
    set_etag(response, entry.id, entry.version)
    return service.entry_read(entry)


@router.patch(
    "/{account_id}/entries/{entry_id}", response_model=FundEntryRead, summary="Correct a fund entry"
)
async def update_fund_entry(
    request: Request,
    session: DbSession,
    principal: Writer,
    account_id: uuid.UUID,
    entry_id: uuid.UUID,
    body: FundEntryUpdate,
    response: Response,
) -> FundEntryRead:
    """Needs `If-Match`. Allowed within 24 hours of recording (`editable_until`); afterwards 409
    `entry_locked` — record a reversing entry instead. The budget rule applies to the corrected amount."""
    entry = await service.update_entry(session, request, principal, account_id, entry_id, body)
    set_etag(response, entry.id, entry.version)
    return service.entry_read(entry)


@router.get("/{account_id}/report", response_model=FundAccountReport, summary="Budget vs actual")
async def fund_account_report(
    session: DbSession, principal: Reader, account_id: uuid.UUID
) -> FundAccountReport:
    """Per budget line: `budget`, `spent` (net of reversals), `remaining` and `rate` (spent / budget,
    4 decimals; null for a zero budget), plus the account's `total`."""
    return await service.report(session, principal, account_id)

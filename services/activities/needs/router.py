"""`/needs` (需求信息档案, 6.1.2) and `/referrals` (转介, 5.3)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.activities import records
from services.activities.needs.schemas import (
    NeedCreate,
    NeedRead,
    NeedUpdate,
    ReferralClose,
    ReferralCreate,
    ReferralRead,
    ReferralUpdate,
)
from services.activities.needs.service import (
    NEEDS,
    REFERRALS,
    RESIDENT,
    accept_referral,
    close_referral,
    create_need,
    create_referral,
    delete_need,
    update_need,
    update_referral,
)
from services.activities.records import DateFrom, DateTo
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.enums import ReferralStatus, ServiceCategory
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination

needs = APIRouter(prefix="/needs", tags=["needs and referrals"])
referrals = APIRouter(prefix="/referrals", tags=["needs and referrals"])
Need = NEEDS.model
Referral = REFERRALS.model


# ---- needs -----------------------------------------------------------------------------------------


@needs.get("", response_model=Page[NeedRead], summary="List needs")
async def list_needs(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    category: ServiceCategory | None = None,
) -> Page[NeedRead]:
    """Needs of the sites you may see, oldest `recorded_on` first. Resident fields are masked for
    every role in a list."""
    filters = records.period_filters(NEEDS, date_from, date_to)
    if site_id is not None:
        filters.append(Need.site_id == site_id)
    if category is not None:
        filters.append(Need.category == category)
    rows, cursor = await records.list_records(session, principal, NEEDS, page, filters)
    return Page(items=RESIDENT.render_list(NeedRead, principal, rows), next_cursor=cursor)


@needs.post("", response_model=NeedRead, status_code=201, summary="Record a need")
async def record_need(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: NeedCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record residents' needs at their sites. `resident_id_number` is input only: it is
    stored masked (`3301**********1234`) and never returned whole."""

    async def create() -> NeedRead:
        row = await create_need(session, request, principal, body)
        return RESIDENT.render_written(NeedRead, principal, row)

    return await idempotency.run(create)


@needs.get("/{need_id}", response_model=NeedRead, summary="Get a need")
async def get_need(
    request: Request, session: DbSession, principal: Reader, need_id: uuid.UUID, response: Response
) -> NeedRead:
    """The site's operator and the district see the resident unmasked (audited as
    `need.read_personal`); every other role sees it masked."""
    row = await records.get_record(session, principal, NEEDS, need_id)
    set_etag(response, row.id, row.version)
    return await RESIDENT.render_single(session, request, principal, NeedRead, row)


@needs.patch("/{need_id}", response_model=NeedRead, summary="Update a need")
async def patch_need(
    request: Request,
    session: DbSession,
    principal: Writer,
    need_id: uuid.UUID,
    body: NeedUpdate,
    response: Response,
) -> NeedRead:
    """Needs `If-Match` with the need's ETag."""
    row = await update_need(session, request, principal, need_id, body)
    set_etag(response, row.id, row.version)
    return RESIDENT.render_written(NeedRead, principal, row)


@needs.delete("/{need_id}", status_code=204, summary="Delete a need")
async def remove_need(
    request: Request, session: DbSession, principal: Writer, need_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. A need with referrals cannot be deleted (409 `need_has_referrals`)."""
    await delete_need(session, request, principal, need_id)
    return Response(status_code=204)


# ---- referrals -------------------------------------------------------------------------------------


@referrals.get("", response_model=Page[ReferralRead], summary="List referrals")
async def list_referrals(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    status: ReferralStatus | None = None,
    need_id: uuid.UUID | None = None,
) -> Page[ReferralRead]:
    """Referrals of the sites you may see, oldest `referred_on` first."""
    filters = records.period_filters(REFERRALS, date_from, date_to)
    if site_id is not None:
        filters.append(Referral.site_id == site_id)
    if status is not None:
        filters.append(Referral.status == status)
    if need_id is not None:
        filters.append(Referral.need_id == need_id)
    rows, cursor = await records.list_records(session, principal, REFERRALS, page, filters)
    return Page(items=[ReferralRead.model_validate(r) for r in rows], next_cursor=cursor)


@referrals.post("", response_model=ReferralRead, status_code=201, summary="Refer a need")
async def refer_need(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: ReferralCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Refers a need to a department or organisation (5.3). The referral belongs to the need's site;
    a `need_id` that is not a need of a site you may write for → 422 naming `need_id`. Starts `open`."""

    async def create() -> ReferralRead:
        return ReferralRead.model_validate(await create_referral(session, request, principal, body))

    return await idempotency.run(create)


@referrals.get("/{referral_id}", response_model=ReferralRead, summary="Get a referral")
async def get_referral(
    session: DbSession, principal: Reader, referral_id: uuid.UUID, response: Response
) -> ReferralRead:
    row = await records.get_record(session, principal, REFERRALS, referral_id)
    set_etag(response, row.id, row.version)
    return ReferralRead.model_validate(row)


@referrals.patch("/{referral_id}", response_model=ReferralRead, summary="Correct a referral")
async def patch_referral(
    request: Request,
    session: DbSession,
    principal: Writer,
    referral_id: uuid.UUID,
    body: ReferralUpdate,
    response: Response,
) -> ReferralRead:
    """Needs `If-Match`. Corrects where and when it was referred; the status moves only with
    `accept` and `close`."""
    row = await update_referral(session, request, principal, referral_id, body)
    set_etag(response, row.id, row.version)
    return ReferralRead.model_validate(row)


@referrals.delete("/{referral_id}", status_code=204, summary="Delete a referral")
async def delete_referral(
    request: Request, session: DbSession, principal: Writer, referral_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, REFERRALS, referral_id)
    return Response(status_code=204)


@referrals.post("/{referral_id}/accept", response_model=ReferralRead, summary="Mark a referral accepted")
async def accept(
    request: Request,
    session: DbSession,
    principal: Writer,
    referral_id: uuid.UUID,
    idempotency: IdempotencyGuard,
) -> Response:
    """`open` → `accepted`, with `accepted_on` today (Asia/Shanghai). No `If-Match` needed; any other
    status → 409 `invalid_transition`. Returns the referral with its new ETag."""
    etag: dict[str, str] = {}

    async def run() -> ReferralRead:
        row = await accept_referral(session, request, principal, referral_id)
        etag["ETag"] = make_etag(row.id, row.version)
        return ReferralRead.model_validate(row)

    return await idempotency.run(run, status_code=200, headers=lambda _: etag)


@referrals.post("/{referral_id}/close", response_model=ReferralRead, summary="Close a referral")
async def close(
    request: Request,
    session: DbSession,
    principal: Writer,
    referral_id: uuid.UUID,
    body: ReferralClose,
    idempotency: IdempotencyGuard,
) -> Response:
    """`open` or `accepted` → `closed`, with its `outcome` and `closed_on` today (Asia/Shanghai).
    No `If-Match` needed; a closed referral → 409 `invalid_transition`."""
    etag: dict[str, str] = {}

    async def run() -> ReferralRead:
        row = await close_referral(session, request, principal, referral_id, body.outcome)
        etag["ETag"] = make_etag(row.id, row.version)
        return ReferralRead.model_validate(row)

    return await idempotency.run(run, status_code=200, headers=lambda _: etag)


router = APIRouter()
router.include_router(needs)
router.include_router(referrals)

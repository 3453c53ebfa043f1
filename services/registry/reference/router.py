"""Reference data: streets, communities and the enumeration labels."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.common.auth import AnyUser
from services.common.db import DbSession
from services.common.enums import enum_document
from services.common.pagination import Page, Pagination
from services.registry.reference import service
from services.registry.reference.schemas import CommunityRead, EnumDocument, StreetRead

router = APIRouter(tags=["reference"])


@router.get("/streets", response_model=Page[StreetRead], summary="List streets (街道)")
async def list_streets(session: DbSession, _: AnyUser) -> Page[StreetRead]:
    """The district's streets. Seeded reference data; the ids are the same on every install."""
    streets = await service.list_streets(session)
    return Page(items=[StreetRead.model_validate(s) for s in streets], next_cursor=None)


@router.get("/communities", response_model=Page[CommunityRead], summary="List communities (社区)")
async def list_communities(
    session: DbSession, _: AnyUser, page: Pagination, street_id: uuid.UUID | None = None
) -> Page[CommunityRead]:
    """Communities, optionally of one street (`street_id`); ordered by code."""
    rows, cursor = await service.list_communities(session, page, street_id)
    return Page(items=[CommunityRead.model_validate(c) for c in rows], next_cursor=cursor)


@router.get("/enums", response_model=EnumDocument, summary="Every enumeration with zh/en labels")
async def list_enums(_: AnyUser) -> EnumDocument:
    """One document listing every enumeration of every Linju service (SPEC §3): lower-case English
    codes with English and Chinese labels, for front ends to render choices."""
    return EnumDocument.model_validate(enum_document())

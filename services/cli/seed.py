"""Seeding: reference data and a signing key always; demo users (and later demo data) on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities.demo import seed_demo_activities
from services.common.db import create_engine, make_sessionmaker
from services.common.settings import ServiceSettings
from services.evaluation.rubrics.seed import seed_rubrics
from services.gateway.database import User
from services.gateway.identity import service as identity
from services.gateway.identity.schemas import UserCreate
from services.gateway.keys.service import ensure_signing_key
from services.registry.demo import demo_id, demo_site_profiles, seed_demo_registry
from services.registry.reference.data import STREETS
from services.registry.reference.service import seed_reference_data


def demo_organization_id(code: str) -> uuid.UUID:
    return demo_id("organization", code)


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    display_name: str
    role: str
    street_code: str | None = None
    organization_code: str | None = None


DEMO_PASSWORD = "linju-demo-2026"  # noqa: S105 - demo data only, printed by `linju up`
DEMO_USERS = (
    DemoUser("district", DEMO_PASSWORD, "区民政局 演示账号", "district"),
    DemoUser("xixing", DEMO_PASSWORD, "西兴街道 演示账号", "street", street_code="XX"),
    DemoUser("changhe", DEMO_PASSWORD, "长河街道 演示账号", "street", street_code="CH"),
    DemoUser(
        "operator", DEMO_PASSWORD, "亲邻社工服务中心 演示账号", "operator", organization_code="ORG-QINLIN"
    ),
    DemoUser(
        "evaluator", DEMO_PASSWORD, "明评第三方评估 演示账号", "evaluator", organization_code="ORG-MINGPING"
    ),
)


def _url(database_url: str) -> str:
    return ServiceSettings(database_url=database_url).async_database_url


async def seed(database_url: str, *, demo: bool) -> list[DemoUser]:
    engine = create_engine(_url(database_url), pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    created: list[DemoUser] = []
    try:
        async with sessionmaker() as session, session.begin():
            await seed_reference_data(session)
            await seed_rubrics(session)
            await ensure_signing_key(session)
        if demo:
            async with sessionmaker() as session, session.begin():
                await seed_demo_registry(session)
            async with sessionmaker() as session, session.begin():
                await seed_demo_activities(session, await demo_site_profiles(session))
            async with sessionmaker() as session, session.begin():
                created = await seed_demo_users(session)
    finally:
        await engine.dispose()
    return created


async def seed_demo_users(session: AsyncSession) -> list[DemoUser]:
    streets = {s.code: s.id for s in STREETS}
    for demo in DEMO_USERS:
        exists = await session.scalar(select(User.id).where(User.username == demo.username))
        if exists is not None:
            continue
        await identity.create_user(
            session,
            UserCreate(
                username=demo.username,
                display_name=demo.display_name,
                password=demo.password,
                role=demo.role,  # type: ignore[arg-type]
                street_id=streets[demo.street_code] if demo.street_code else None,
                organization_id=demo_organization_id(demo.organization_code)
                if demo.organization_code
                else None,
            ),
            actor=None,
            request=None,
        )
    return list(DEMO_USERS)

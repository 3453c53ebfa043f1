"""P6's data: 300 sites and 300,000 activities of one year, written with COPY into the bench's own
database (straight into the registry's and the activities' tables, as a data migration would).

Each site logs 1,000 activities over the year across the ten service categories; about 7 % are
theme activities (C15 asks for five a month), most with a sign-in sheet and a photo. Fixed seed:
every run scores the same data.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

import asyncpg

from services.activities.activities import ingest
from services.common.enums import ServiceCategory
from services.common.timeutil import utc_now

# The COPY columns of a stored activity: the bookkeeping ones, then what the batch ingest stores.
ACTIVITY_COLUMNS = ["id", "site_id", "created_by", "version", "created_at", "updated_at", *ingest.COLUMNS[1:]]
SITES = 300
PER_SITE = 1_000
YEAR = 2025
HOURS = json.dumps(
    {d: {"open": "08:00", "close": "20:30"} for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
)
AREAS = json.dumps(
    [
        {"kind": "elderly_center", "name": None, "area_m2": None, "slip_rating": "r10", "warm_walls": True},
        {
            "kind": "children_room",
            "name": None,
            "area_m2": None,
            "soft_floor": True,
            "science_art_programs": None,
        },
        {"kind": "public_activity_room", "name": None, "area_m2": None},
    ]
)
SIGN_IN = {"kind": "sign_in_sheet", "uri": "https://files.example/sign-in.jpg", "sha256": None}
PHOTO = {"kind": "photo", "uri": "https://files.example/photo.jpg", "sha256": None}


async def seed(dsn: str) -> list[str]:
    """Write the sites and their activities; returns the site ids (as text)."""
    rng = random.Random(7)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda v: b"\x01" + v.encode(),  # binary jsonb (COPY): version 1, then the text
            decoder=lambda v: v[1:].decode(),
            schema="pg_catalog",
            format="binary",
        )
        categories = [category.value for category in ServiceCategory]
        communities = await conn.fetch("SELECT id, street_id FROM registry.communities ORDER BY id")
        now = utc_now()
        sites: list[tuple[Any, ...]] = []
        for n in range(SITES):
            community = communities[n % len(communities)]
            sites.append(
                (
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    f"P6-{n:04d}",
                    f"评估基准站点{n:04d}",
                    community["street_id"],
                    community["id"],
                    "",
                    "operating",
                    [],
                    HOURS,
                    json.dumps({"door_sign": n % 4 != 0, "standing_sign": False}),
                    AREAS,
                    "[]",
                    "",
                    1,
                    now,
                    now,
                )
            )
        await conn.copy_records_to_table(
            "sites",
            schema_name="registry",
            records=sites,
            columns=[
                "id",
                "code",
                "name",
                "street_id",
                "community_id",
                "address",
                "status",
                "integrated_with",
                "opening_hours",
                "signage",
                "function_areas",
                "safety",
                "notes",
                "version",
                "created_at",
                "updated_at",
            ],
        )
        start = dt.datetime(YEAR, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        activities: list[tuple[Any, ...]] = []
        for site in sites:
            for i in range(PER_SITE):
                theme = i % 14 == 0  # ~7 %
                evidence = [SIGN_IN, PHOTO] if theme and i % 70 else [SIGN_IN] if theme else [PHOTO]
                begins = start + dt.timedelta(days=rng.randrange(365), hours=rng.randrange(10))
                activities.append(
                    (
                        uuid.UUID(int=rng.getrandbits(128), version=4),
                        site[0],
                        "bench",
                        1,
                        now,
                        now,
                        categories[i % len(categories)],
                        f"活动{i}",
                        theme,
                        begins,
                        begins + dt.timedelta(hours=2),
                        "活动室",
                        rng.randrange(10, 160),
                        [],
                        [],
                        json.dumps(evidence),
                        any(e["kind"] == "sign_in_sheet" for e in evidence),
                        any(e["kind"] == "photo" for e in evidence),
                    )
                )
        await conn.copy_records_to_table(
            "activities",
            schema_name="activities",
            records=activities,
            columns=ACTIVITY_COLUMNS,
        )
        # As autovacuum leaves a table a minute after a bulk load (visibility map set, statistics
        # fresh): the measurement must not depend on whether it has run yet.
        await conn.execute("VACUUM (ANALYZE) activities.activities")
        await conn.execute("VACUUM (ANALYZE) registry.sites")
        return [str(site[0]) for site in sites]
    finally:
        await conn.close()

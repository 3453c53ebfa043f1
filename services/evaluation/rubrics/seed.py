"""Rubric 2023-draft (Table C.1) is reference data: inserted by `linju seed`, never changed."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation.rubric.table_c1 import TABLE_C1
from services.evaluation.rubrics.models import Rubric


async def seed_rubrics(session: AsyncSession) -> None:
    stmt = insert(Rubric).values(
        version=TABLE_C1["version"],
        title=TABLE_C1["title"],
        document=TABLE_C1,
        read_only=True,
        created_by="system",
    )
    # The read-only version follows the code: a corrected transcription replaces the stored copy.
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Rubric.version],
            set_={"document": stmt.excluded.document, "title": stmt.excluded.title},
        )
    )

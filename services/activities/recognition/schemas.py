from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from services.activities.dates import PastDate
from services.common.enums import BrandProjectKind, RecognitionKind, RecognitionLevel
from services.common.stored import StoredRead

# ---- brand projects (品牌成效) ----------------------------------------------------------------------


class BrandProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    kind: BrandProjectKind = Field(description="`overall_brand` 整体性品牌 or `service_project` 品牌服务项目")
    title: str = Field(min_length=1, max_length=200)
    started_on: PastDate
    implemented: bool = Field(False, description="Planned and carried out (C19: 策划并实施)")
    description: str = Field("", max_length=1000)


class BrandProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: BrandProjectKind | None = None
    title: str | None = Field(None, min_length=1, max_length=200)
    started_on: PastDate | None = None
    implemented: bool | None = None
    description: str | None = Field(None, max_length=1000)


class BrandProjectRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    kind: BrandProjectKind
    title: str
    started_on: dt.date
    implemented: bool
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- recognitions (经验交流/领导批示, 媒体报道, 荣誉表彰) --------------------------------------------------


class RecognitionEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        pattern=r"^[a-z][a-z_]{0,31}$",
        description="A lower-case code: certificate, article, instruction, photo, link …",
    )
    uri: str = Field(min_length=1, max_length=1000)


class RecognitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    kind: RecognitionKind
    level: RecognitionLevel
    date: PastDate
    title: str = Field(min_length=1, max_length=200)
    evidence: list[RecognitionEvidence] = Field(default_factory=list, max_length=20)


class RecognitionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RecognitionKind | None = None
    level: RecognitionLevel | None = None
    date: PastDate | None = None
    title: str | None = Field(None, min_length=1, max_length=200)
    evidence: list[RecognitionEvidence] | None = Field(None, max_length=20)


class RecognitionRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    kind: RecognitionKind
    level: RecognitionLevel
    date: dt.date
    title: str
    evidence: list[RecognitionEvidence]
    created_at: dt.datetime
    updated_at: dt.datetime

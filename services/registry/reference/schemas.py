from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from services.common.stored import StoredRead


class StreetRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    name_en: str


class CommunityRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    street_id: uuid.UUID
    code: str
    name: str
    name_en: str


class EnumValue(BaseModel):
    code: str
    en: str
    zh: str


class EnumDefinition(BaseModel):
    values: list[EnumValue]


class EnumDocument(BaseModel):
    enums: dict[str, EnumDefinition]

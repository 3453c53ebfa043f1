"""Sites (一个社区美好生活共同体, SPEC §4): inputs, outputs, and the embedded documents of a site —
opening hours, signage (4.1, Annex B), function areas (4.3.1, Table C.1) and the safety checklist
(4.2.1)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from services.common.enums import (
    SAFETY_ITEM_STANDARD,
    FloorMaterial,
    FunctionAreaKind,
    IntegratedWith,
    OperatingMode,
    SafetyItem,
    SiteOrgRelation,
    SiteStatus,
    SlipRating,
    Structure,
    Tier,
    Weekday,
)
from services.common.stored import StoredRead, reads_stored


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- numbers ---------------------------------------------------------------------------------------

_MICRODEGREE = Decimal("0.000001")


def _to_microdegrees(value: Decimal) -> Decimal:
    # The column keeps 6 decimals (≈ 0.1 m); more precise GPS readings are rounded, not refused.
    return value.quantize(_MICRODEGREE, rounding=ROUND_HALF_EVEN)


Latitude = Annotated[
    Decimal,
    Field(ge=3, le=54, description="WGS-84 latitude inside China (3–54 °N).", examples=["30.208400"]),
    AfterValidator(_to_microdegrees),
]
Longitude = Annotated[
    Decimal,
    Field(ge=73, le=136, description="WGS-84 longitude inside China (73–136 °E).", examples=["120.211900"]),
    AfterValidator(_to_microdegrees),
]
Area = Annotated[
    Decimal,
    Field(gt=0, max_digits=10, decimal_places=2, examples=["860.50"]),
    AfterValidator(lambda value: value.quantize(Decimal("0.01"))),
]


# ---- opening hours ---------------------------------------------------------------------------------

_OPEN_PATTERN = r"^(?:[01]\d|2[0-3]):[0-5]\d$"
_CLOSE_PATTERN = r"^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$"


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class DayHours(_Input):
    """Open and close time of one day, 24-hour `HH:MM` (close may be `24:00`)."""

    open: str = Field(pattern=_OPEN_PATTERN, examples=["08:00"])
    close: str = Field(pattern=_CLOSE_PATTERN, examples=["20:30"])

    @field_validator("close")
    @classmethod
    def _close_after_open(cls, close: str, info: ValidationInfo) -> str:
        opening = info.data.get("open")
        if opening is not None and _minutes(close) <= _minutes(opening):
            raise ValueError("close must be later than open")
        return close

    @property
    def hours(self) -> Decimal:
        return Decimal(_minutes(self.close) - _minutes(self.open)) / 60


class OpeningHours(_Input):
    """Opening hours per weekday (keys are `weekday` codes); `null` or absent = closed that day."""

    mon: DayHours | None = None
    tue: DayHours | None = None
    wed: DayHours | None = None
    thu: DayHours | None = None
    fri: DayHours | None = None
    sat: DayHours | None = None
    sun: DayHours | None = None

    def open_days(self) -> list[DayHours]:
        return [day for day in (getattr(self, code.value) for code in Weekday) if day is not None]

    @property
    def days_per_week(self) -> int:
        return len(self.open_days())

    @property
    def hours_per_day(self) -> Decimal | None:
        """The shortest opening of the open days, in hours, rounded *down* to 0.1 h, so that
        "12.0" really means at least 12 hours (C14 常态开放). None when the site never opens."""
        days = self.open_days()
        if not days:
            return None
        return min(day.hours for day in days).quantize(Decimal("0.1"), rounding=ROUND_DOWN)

    def to_document(self) -> dict[str, Any]:
        """The JSONB form: all seven weekdays, `null` for closed days."""
        return self.model_dump(mode="json")


assert set(OpeningHours.model_fields) == {code.value for code in Weekday}


class Signage(_Input):
    """Outdoor signage (4.1, Annex B): the door sign (门头标识) and the standing sign (立式标识)."""

    door_sign: bool = False
    standing_sign: bool = False


# ---- function areas (4.3.1, Table C.1) -------------------------------------------------------------


class _AreaBase(_Input):
    name: str | None = Field(None, max_length=100, description="Name shown on site, e.g. 星民书房.")
    area_m2: Area | None = None


class OneStopOfficeArea(_AreaBase):
    """一滨办 (C07): tricolour sign, at most three decoration colours, tile/vinyl floor, open desk."""

    kind: Literal["one_stop_office"]
    tricolor_sign: bool | None = Field(None, description="Red-blue-orange 一滨办 sign at the window.")
    decoration_colors: int | None = Field(None, ge=1, le=50, description="Number of decoration colours.")
    floor_material: FloorMaterial | None = None
    desk_unobstructed: bool | None = Field(None, description="Service desk comfortable and unobstructed.")


class DeliberationHallArea(_AreaBase):
    """居民议事厅 (C06)."""

    kind: Literal["deliberation_hall"]
    wall_wood_or_marble: bool | None = Field(None, description="Walls clad in wood or marble.")
    floor_material: FloorMaterial | None = None


class ElderlyCenterArea(_AreaBase):
    """居家养老中心/老年活动室 (C05): anti-slip floor rating and warm-coloured walls."""

    kind: Literal["elderly_center"]
    slip_rating: SlipRating | None = None
    warm_walls: bool | None = None


class ChildrenRoomArea(_AreaBase):
    """儿童活动室 (C05): soft floor and science/art programmes."""

    kind: Literal["children_room"]
    soft_floor: bool | None = None
    science_art_programs: bool | None = None


class CustomArea(_AreaBase):
    """特色服务 (4.3.2): a featured service of the site's own choosing; `name` is required."""

    kind: Literal["custom"]
    name: str = Field(min_length=1, max_length=100)  # type: ignore[assignment]


class PlainArea(_AreaBase):
    """Any other function area of 4.3.1 (no attribute inspected by the rubric)."""

    kind: Literal[
        "general_office",
        "org_incubator",
        "public_activity_room",
        "reading_room",
        "counseling_room",
        "social_work_studio",
        "canteen",
        "childcare",
    ]


FunctionArea = Annotated[
    OneStopOfficeArea | DeliberationHallArea | ElderlyCenterArea | ChildrenRoomArea | CustomArea | PlainArea,
    Field(discriminator="kind"),
]
FUNCTION_AREAS = TypeAdapter(list[FunctionArea])

_AREA_MODELS: tuple[type[_AreaBase], ...] = (
    OneStopOfficeArea,
    DeliberationHallArea,
    ElderlyCenterArea,
    ChildrenRoomArea,
    CustomArea,
    PlainArea,
)
assert {k for m in _AREA_MODELS for k in get_args(m.model_fields["kind"].annotation)} == {
    kind.value for kind in FunctionAreaKind
}, "every function_area_kind needs exactly one model"


# ---- safety checklist (4.2.1) ----------------------------------------------------------------------


class SafetyCheck(_Input):
    """One item of the basic safety checklist (4.2.1): is it in place, and when was it checked."""

    item: SafetyItem
    present: bool
    checked_on: dt.date | None = Field(None, description="Date of the last check (not in the future).")


class SafetyCheckRead(BaseModel):
    item: SafetyItem
    present: bool
    checked_on: dt.date | None
    standard: str | None = Field(description="The national standard the item must meet, e.g. GB 2894.")

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SafetyCheckRead:
        item = SafetyItem(doc["item"])
        return cls(
            item=item,
            present=bool(doc.get("present")),
            checked_on=doc.get("checked_on"),
            standard=SAFETY_ITEM_STANDARD[item],
        )


def safety_read(documents: list[dict[str, Any]]) -> list[SafetyCheckRead]:
    order = {item.value: n for n, item in enumerate(SafetyItem)}
    return [
        SafetyCheckRead.from_document(d)
        for d in sorted(documents, key=lambda d: order.get(d.get("item", ""), len(order)))
    ]


# ---- sites -----------------------------------------------------------------------------------------

_TIER_DESCRIPTION = (
    "Read-only here: the hub type is written only by the evaluation service when a final round is "
    "published (Annex A). Sending it answers 403 `field_not_writable`."
)


class SiteCreate(_Input):
    name: str = Field(min_length=1, max_length=100, examples=["星民社区美好生活共同体"])
    code: str = Field(min_length=1, max_length=32, pattern=r"^\S+$", examples=["XX01-001"])
    street_id: uuid.UUID
    community_id: uuid.UUID = Field(description="A community of `street_id`.")
    address: str = Field("", max_length=200)
    lat: Latitude | None = None
    lng: Longitude | None = None
    floor_area_m2: Area | None = None
    status: SiteStatus = SiteStatus.PLANNED
    operating_mode: OperatingMode | None = Field(None, description="5.1 运营方式")
    integrated_with: list[IntegratedWith] = Field(default_factory=list, description="4.1 融合设置")
    structure: Structure | None = None
    opening_hours: OpeningHours | None = None
    signage: Signage = Field(default_factory=Signage)
    function_areas: list[FunctionArea] = Field(default_factory=list, max_length=100)
    safety: list[SafetyCheck] = Field(default_factory=list, max_length=20)
    notes: str = Field("", max_length=2000)
    tier: Tier | None = Field(None, description=_TIER_DESCRIPTION)


# Fields a PATCH may not set to null (the column is not nullable).
_NOT_NULL = (
    "name",
    "code",
    "street_id",
    "community_id",
    "address",
    "status",
    "integrated_with",
    "signage",
    "function_areas",
    "safety",
    "notes",
)


class SiteUpdate(_Input):
    """Only the fields sent are changed. `opening_hours: null` clears the opening hours."""

    name: str | None = Field(None, min_length=1, max_length=100)
    code: str | None = Field(None, min_length=1, max_length=32, pattern=r"^\S+$")
    street_id: uuid.UUID | None = None
    community_id: uuid.UUID | None = None
    address: str | None = Field(None, max_length=200)
    lat: Latitude | None = None
    lng: Longitude | None = None
    floor_area_m2: Area | None = None
    status: SiteStatus | None = None
    operating_mode: OperatingMode | None = None
    integrated_with: list[IntegratedWith] | None = None
    structure: Structure | None = None
    opening_hours: OpeningHours | None = None
    signage: Signage | None = None
    function_areas: list[FunctionArea] | None = Field(None, max_length=100)
    safety: list[SafetyCheck] | None = Field(None, max_length=20)
    notes: str | None = Field(None, max_length=2000)
    tier: Tier | None = Field(None, description=_TIER_DESCRIPTION)

    @field_validator(*_NOT_NULL)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class SiteRead(StoredRead):
    id: uuid.UUID
    code: str
    name: str
    street_id: uuid.UUID
    community_id: uuid.UUID
    address: str
    lat: Decimal | None
    lng: Decimal | None
    floor_area_m2: Decimal | None
    status: SiteStatus
    operating_mode: OperatingMode | None
    integrated_with: list[IntegratedWith]
    structure: Structure | None
    opening_hours: OpeningHours
    hours_per_day: Decimal | None = Field(
        description="Shortest opening of the open days, hours rounded down to 0.1 (C14 needs ≥ 12)."
    )
    days_per_week: int = Field(description="Number of days the site opens (C14 needs ≥ 5).")
    signage: Signage
    function_areas: list[FunctionArea]
    safety: list[SafetyCheckRead]
    tier: Tier | None
    tier_round_id: uuid.UUID | None
    tier_updated_at: dt.datetime | None
    filing_id: uuid.UUID | None = Field(description="The approved hub_plan filing that created the site.")
    notes: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    @reads_stored("registry.sites", row=1)
    def from_site(cls, site: Any) -> SiteRead:
        hours = OpeningHours.model_validate(site.opening_hours or {})
        return cls(
            id=site.id,
            code=site.code,
            name=site.name,
            street_id=site.street_id,
            community_id=site.community_id,
            address=site.address or "",
            lat=site.lat,
            lng=site.lng,
            floor_area_m2=site.floor_area_m2,
            status=site.status,
            operating_mode=site.operating_mode,
            integrated_with=list(site.integrated_with or []),
            structure=site.structure,
            opening_hours=hours,
            hours_per_day=hours.hours_per_day,
            days_per_week=hours.days_per_week,
            signage=Signage.model_validate(site.signage or {}),
            function_areas=FUNCTION_AREAS.validate_python(site.function_areas or []),
            safety=safety_read(site.safety or []),
            tier=site.tier,
            tier_round_id=site.tier_round_id,
            tier_updated_at=site.tier_updated_at,
            filing_id=site.filing_id,
            notes=site.notes or "",
            version=site.version,
            created_at=site.created_at,
            updated_at=site.updated_at,
        )


class SiteFilters(BaseModel):
    """Query filters shared by the list and the export."""

    street_id: uuid.UUID | None = None
    community_id: uuid.UUID | None = None
    status: SiteStatus | None = None
    tier: Tier | None = None
    operating_mode: OperatingMode | None = None
    q: str | None = None


# ---- sub-resources ---------------------------------------------------------------------------------


class FunctionAreasPut(_Input):
    items: list[FunctionArea] = Field(max_length=100)


class FunctionAreasRead(BaseModel):
    site_id: uuid.UUID
    version: int = Field(description="The site's version after this read/write (its ETag changes too).")
    items: list[FunctionArea]


class SafetyPut(_Input):
    items: list[SafetyCheck] = Field(max_length=20)


class SafetyRead(BaseModel):
    site_id: uuid.UUID
    version: int
    items: list[SafetyCheckRead]


# ---- organisations linked to a site ----------------------------------------------------------------


class SiteOrganizationCreate(_Input):
    organization_id: uuid.UUID
    relation: SiteOrgRelation
    since: dt.date
    until: dt.date | None = Field(None, description="Last day of the link; open-ended when null.")

    @field_validator("until")
    @classmethod
    def _until_not_before_since(cls, until: dt.date | None, info: ValidationInfo) -> dt.date | None:
        since = info.data.get("since")
        if until is not None and since is not None and until < since:
            raise ValueError("until must be on or after since")
        return until


class OrganizationBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    uscc: str
    kind: str
    registration: str


class SiteOrganizationRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    organization_id: uuid.UUID
    relation: SiteOrgRelation
    since: dt.date
    until: dt.date | None
    active: bool = Field(description="The link covers today (Asia/Shanghai).")
    organization: OrganizationBrief
    created_at: dt.datetime


# ---- hub type from the evaluation service (Annex A) ------------------------------------------------


class TierUpdate(_Input):
    """Body of `POST /internal/sites/{id}/tier`: the evaluation service's verdict for the site."""

    tier: Tier | None = Field(description="`demonstration`, `standard`, `basic`, or null to clear.")
    round_id: uuid.UUID = Field(description="The published final round the tier comes from.")

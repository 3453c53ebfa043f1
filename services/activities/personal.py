"""Residents' personal data in the activities logs (SPEC §1): who sees it, and in what form.

One policy for every resource that holds names, phone numbers or ID numbers of residents — case
clients, visitors, residents with a need, volunteers:

* **lists** are masked for every role, the district and the site's operator included: a list is
  browsing, not looking somebody up (``张*``, ``138****5678``);
* a **single read** is unmasked only for the district and the operator of the record's site
  (:func:`services.activities.scope.sees_personal_data`), and every such read that reveals a
  value writes the audit row ``<type>.read_personal``; street, integration and evaluator callers
  get the masked form;
* **case clients** never leave the site in identifiable form: evaluators get ``null`` for the
  client fields, not even masked (they see counts and the anonymised summary);
* **ID numbers** are never stored whole: :func:`id_number_stored` masks the input on the way in
  (``3301**********1234``), so not even an unmasked read can return one. Cases also keep a keyed
  digest (:func:`id_number_key`) to recognise a returning client.

Responses to a create or update go to the writer, who is always the district or the site's
operator: they carry the values as written (the write itself is audited).

Schemas build their personal fields through :meth:`PersonalData.render` only, so no code path
copies a stored name or phone into a response without passing through this policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import AfterValidator, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records, redaction
from services.activities.scope import sees_personal_data
from services.common.auth import Principal
from services.common.masking import id_number_digest, mask_id_number, mask_name, mask_phone
from services.common.stored import StoredRead

T = TypeVar("T", bound=StoredRead)


class Disclosure(StrEnum):
    """How the personal fields of one response are shown (the ``personal_data`` member of a read)."""

    FULL = "full"  # as recorded (ID numbers still masked): district or the site's operator, one record
    MASKED = "masked"  # 张*, 138****5678, 3301**********1234
    WITHHELD = "withheld"  # null: case clients for evaluators


class FieldKind(StrEnum):
    NAME = "name"
    PHONE = "phone"
    ID_NUMBER = "id_number"  # stored masked already


@dataclass(frozen=True)
class PersonalField:
    name: str  # the attribute on the model and the member of the read schema
    kind: FieldKind


def _masker(kind: FieldKind) -> Callable[[str | None], str | None]:
    if kind is FieldKind.NAME:
        return mask_name
    if kind is FieldKind.PHONE:
        return mask_phone
    return mask_id_number


def _mask(kind: FieldKind, value: str | None) -> str | None:
    if kind is FieldKind.NAME:
        return mask_name(value)
    if kind is FieldKind.PHONE:
        return mask_phone(value)
    return mask_id_number(value)


@dataclass(frozen=True)
class PersonalData:
    """The personal fields of one resource and the roles from whom they are withheld entirely."""

    object_type: str  # "case", "visit" … (audit action ``<type>.read_personal``)
    fields: tuple[PersonalField, ...]
    withheld_from: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Events and exports show every record in its list form, to every reader of the feed.
        redaction.register(
            self.object_type,
            {f.name: None if self.withheld_from else _masker(f.kind) for f in self.fields},
        )

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def disclosure(self, principal: Principal, site_id: Any, *, single: bool) -> Disclosure:
        if principal.role in self.withheld_from:
            return Disclosure.WITHHELD
        if single and sees_personal_data(principal, site_id):
            return Disclosure.FULL
        return Disclosure.MASKED

    def values(self, row: Any, disclosure: Disclosure) -> dict[str, str | None]:
        """The personal fields of ``row`` as ``disclosure`` allows."""
        out: dict[str, str | None] = {}
        for f in self.fields:
            stored = getattr(row, f.name)
            if disclosure is Disclosure.WITHHELD:
                out[f.name] = None
            elif disclosure is Disclosure.FULL and f.kind is not FieldKind.ID_NUMBER:
                out[f.name] = stored
            else:
                # An ID number is shown masked even in a full read (re-masking a masked value is a no-op).
                out[f.name] = _mask(f.kind, stored)
        return out

    def render(self, schema: type[T], row: Any, disclosure: Disclosure, **extra: Any) -> T:
        """``schema`` filled from ``row``: personal members through the policy, the others as stored."""
        data: dict[str, Any] = {
            name: getattr(row, name)
            for name in schema.model_fields
            if name not in self.names and name not in extra and name != "personal_data"
        }
        data.update(self.values(row, disclosure))
        data["personal_data"] = disclosure
        data.update(extra)
        return schema.model_validate(data, source=row)

    def render_list(
        self,
        schema: type[T],
        principal: Principal,
        rows: Iterable[Any],
        extra: Mapping[Any, Mapping[str, Any]] | None = None,
    ) -> list[T]:
        """List items: masked for every role (withheld where the resource says so)."""
        return [
            self.render(
                schema,
                row,
                self.disclosure(principal, row.site_id, single=False),
                **(extra.get(row.id, {}) if extra else {}),
            )
            for row in rows
        ]

    async def render_single(
        self,
        session: AsyncSession,
        request: Request,
        principal: Principal,
        schema: type[T],
        row: Any,
        **extra: Any,
    ) -> T:
        """One record as ``GET /{id}`` shows it; an unmasked read of a recorded value is audited."""
        disclosure = self.disclosure(principal, row.site_id, single=True)
        if disclosure is Disclosure.FULL:
            revealed = [f.name for f in self.fields if getattr(row, f.name)]
            if revealed:
                await records.audit(
                    session,
                    request,
                    principal,
                    f"{self.object_type}.read_personal",
                    self.object_type,
                    row.id,
                    note=",".join(revealed),
                )
        return self.render(schema, row, disclosure, **extra)

    def render_written(self, schema: type[T], principal: Principal, row: Any, **extra: Any) -> T:
        """The response to a create/update: the writer (district or site operator) sees what it wrote."""
        return self.render(schema, row, self.disclosure(principal, row.site_id, single=True), **extra)


# ---- input -----------------------------------------------------------------------------------------

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]

# Mobile (13812345678, +8613812345678) or landline (0571-86668888) numbers.
PhoneNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{3,17}[0-9]$", max_length=20)
]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_PATTERN = re.compile(r"^[0-9]{17}[0-9X]$")


def _valid_id_number(value: str) -> str:
    # The message never repeats the value: an error response must not echo an ID number either.
    value = value.strip().upper()
    if not _ID_PATTERN.fullmatch(value):
        raise ValueError("must be an 18-character resident ID number (17 digits and a digit or X)")
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        raise ValueError("check character does not match (GB 11643)")
    return value


IdNumber = Annotated[str, AfterValidator(_valid_id_number)]
"""A resident ID number (居民身份证号码, GB 11643, check character verified). Accepted on input only."""


def id_number_stored(id_number: str | None) -> str | None:
    """What is stored of an ID number: its masked form, never the whole number."""
    return mask_id_number(id_number) if id_number else None


def id_number_key(request: Request, id_number: str | None) -> str | None:
    """A keyed digest of an ID number (the key is the service's ``personal_data_key`` setting)."""
    if not id_number:
        return None
    return id_number_digest(id_number, request.app.state.settings.personal_data_key)


def name_field(name: str) -> PersonalField:
    return PersonalField(name, FieldKind.NAME)


def phone_field(name: str) -> PersonalField:
    return PersonalField(name, FieldKind.PHONE)


def id_number_field(name: str) -> PersonalField:
    return PersonalField(name, FieldKind.ID_NUMBER)


DISCLOSURE_DESCRIPTION = (
    "How the personal fields of this item are shown: `full` (as recorded — only on a single read by the "
    "district or the site's operator, and audited), `masked` (张*, 138****5678; every list), or "
    "`withheld` (null). ID numbers are never returned whole."
)

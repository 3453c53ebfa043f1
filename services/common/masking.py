"""Masking of personal data (SPEC §1): ``138****5678``, ``张*``, ID numbers never whole."""

from __future__ import annotations

import hashlib
import hmac


def mask_name(name: str | None) -> str | None:
    """Keep the family name (first character): 张三 → 张*, 欧阳娜娜 → 欧***; Latin names: J***."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """Keep the first three and last four digits of a mobile number: 13812345678 → 138****5678."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str | None) -> str | None:
    """Keep the first four and last four characters of a resident ID number (18 characters)."""
    if not id_number:
        return id_number
    value = id_number.strip().upper()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def id_number_digest(id_number: str, key: str) -> str:
    """A keyed hash to recognise the same ID number again without storing it."""
    return hmac.new(key.encode(), id_number.strip().upper().encode(), hashlib.sha256).hexdigest()

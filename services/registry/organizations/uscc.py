"""统一社会信用代码 (unified social credit code), GB 32100-2015.

18 characters from a 31-character alphabet (digits and capitals without
I, O, S, V, Z). The last one is a check character over the first 17:
``c18 = 31 − (Σ value(cᵢ) × wᵢ mod 31)``, where 31 maps to 0.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


def check_character(first17: str) -> str:
    if len(first17) != 17 or any(ch not in _VALUE for ch in first17):
        raise ValueError("need 17 characters of the USCC alphabet")
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """None when ``code`` is a valid USCC, else what is wrong with it (English)."""
    if len(code) != 18:
        return "must be 18 characters"
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        return f"contains characters not allowed in a USCC: {''.join(bad)}"
    if check_character(code[:17]) != code[17]:
        return "check character does not match (GB 32100)"
    return None


def with_check_character(first17: str) -> str:
    return first17 + check_character(first17)

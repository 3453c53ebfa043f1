"""Personal data in change-feed events and exports: always masked, whoever reads the feed.

A feed is one stream for every reader (a data platform, a street, an evaluator), so an event
carries the *list* form of a record (SPEC §1): names and phones masked, ID numbers masked, and
fields withheld from some role (case clients, from evaluators) left out entirely (null). Keyed
digests (``…_hash``) never leave the service.

:class:`services.activities.personal.PersonalData` registers each resource's fields here when
it is defined, so a new resource with personal data is covered without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# object_type -> (field -> masking function, or None to withhold the field)
_POLICIES: dict[str, dict[str, Callable[[str | None], str | None] | None]] = {}


def register(object_type: str, fields: Mapping[str, Callable[[str | None], str | None] | None]) -> None:
    _POLICIES[object_type] = dict(fields)


def redact(object_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in data.items() if not key.endswith("_hash")}
    for name, mask in _POLICIES.get(object_type, {}).items():
        if name in out:
            out[name] = None if mask is None else mask(out[name])
    return out

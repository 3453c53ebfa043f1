"""The life cycle of a construction filing (6.2.2) as data.

    draft → submitted → (returned → submitted)* → approved | rejected

:data:`TRANSITIONS` is the whole state machine: (current state, action) → next state. Anything
not in the table is refused with 409 ``invalid_transition``. :data:`TAKEN_BY` says who may take
each action: the filer (the filing's street, or the operator organisation that filed it) and the
district may submit; only the district coordinates (returns, approves, rejects).
"""

from __future__ import annotations

from enum import StrEnum

from services.common.enums import FilingState


class FilingAction(StrEnum):
    SUBMIT = "submit"
    RETURN = "return"
    APPROVE = "approve"
    REJECT = "reject"


class Taker(StrEnum):
    FILER = "filer"
    DISTRICT = "district"


TRANSITIONS: dict[tuple[FilingState, FilingAction], FilingState] = {
    (FilingState.DRAFT, FilingAction.SUBMIT): FilingState.SUBMITTED,
    (FilingState.RETURNED, FilingAction.SUBMIT): FilingState.SUBMITTED,
    (FilingState.SUBMITTED, FilingAction.RETURN): FilingState.RETURNED,
    (FilingState.SUBMITTED, FilingAction.APPROVE): FilingState.APPROVED,
    (FilingState.SUBMITTED, FilingAction.REJECT): FilingState.REJECTED,
}

TAKEN_BY: dict[FilingAction, Taker] = {
    FilingAction.SUBMIT: Taker.FILER,
    FilingAction.RETURN: Taker.DISTRICT,
    FilingAction.APPROVE: Taker.DISTRICT,
    FilingAction.REJECT: Taker.DISTRICT,
}

# The filer may change the content only while the filing is with it.
EDITABLE_STATES: frozenset[FilingState] = frozenset({FilingState.DRAFT, FilingState.RETURNED})

# Filings that still claim a community's facility of a type in a year (conflict report):
# filed with the district and not turned down. Drafts are not yet filed.
LIVE_STATES: frozenset[FilingState] = frozenset(
    {FilingState.SUBMITTED, FilingState.RETURNED, FilingState.APPROVED}
)

# The action that leads into a state, for the history; creation leads into draft.
ACTION_INTO: dict[FilingState, str] = {
    FilingState.DRAFT: "create",
    FilingState.SUBMITTED: FilingAction.SUBMIT.value,
    FilingState.RETURNED: FilingAction.RETURN.value,
    FilingState.APPROVED: FilingAction.APPROVE.value,
    FilingState.REJECTED: FilingAction.REJECT.value,
}


def known_moves() -> list[tuple[FilingState, FilingState]]:
    """Every (from, to) :data:`TRANSITIONS` can make: what a filing's history may record after its
    creation (which records ``None → draft``)."""
    return list(dict.fromkeys((source, target) for (source, _), target in TRANSITIONS.items()))


def next_state(current: FilingState | str, action: FilingAction) -> FilingState | None:
    """The state ``action`` leads to from ``current``, or None when the table does not allow it."""
    return TRANSITIONS.get((FilingState(current), action))


def allowed_actions(current: FilingState | str) -> list[FilingAction]:
    """Actions the table allows from ``current`` (for error messages and front ends)."""
    state = FilingState(current)
    return [action for (source, action) in TRANSITIONS if source == state]

"""The life cycle of a scorecard (SPEC §6) as data.

    draft → submitted → (returned → submitted)* → accepted (→ returned by a reopen)

:data:`TRANSITIONS` is the whole state machine: (current state, action) → next state; anything not
in it is refused with 409 ``invalid_transition``. The assigned evaluator scores and submits; the
district returns, accepts, and — with a reason — reopens an accepted scorecard. Scores, findings
and the survey can change only while the scorecard is with the evaluator (:data:`EDITABLE_STATES`);
an accepted scorecard is frozen.
"""

from __future__ import annotations

from enum import StrEnum

from services.common.enums import ScorecardState


class ScorecardAction(StrEnum):
    SUBMIT = "submit"
    RETURN = "return"
    ACCEPT = "accept"
    REOPEN = "reopen"


TRANSITIONS: dict[tuple[ScorecardState, ScorecardAction], ScorecardState] = {
    (ScorecardState.DRAFT, ScorecardAction.SUBMIT): ScorecardState.SUBMITTED,
    (ScorecardState.RETURNED, ScorecardAction.SUBMIT): ScorecardState.SUBMITTED,
    (ScorecardState.SUBMITTED, ScorecardAction.RETURN): ScorecardState.RETURNED,
    (ScorecardState.SUBMITTED, ScorecardAction.ACCEPT): ScorecardState.ACCEPTED,
    (ScorecardState.ACCEPTED, ScorecardAction.REOPEN): ScorecardState.RETURNED,
}

# Who takes each action: the evaluator assigned to the site, or the district.
EVALUATOR_ACTIONS = frozenset({ScorecardAction.SUBMIT})
DISTRICT_ACTIONS = frozenset({ScorecardAction.RETURN, ScorecardAction.ACCEPT, ScorecardAction.REOPEN})
assert set(ScorecardAction) == EVALUATOR_ACTIONS | DISTRICT_ACTIONS

EDITABLE_STATES: frozenset[ScorecardState] = frozenset({ScorecardState.DRAFT, ScorecardState.RETURNED})


def next_state(current: ScorecardState | str, action: ScorecardAction) -> ScorecardState | None:
    """The state ``action`` leads to from ``current``, or None when the table does not allow it."""
    return TRANSITIONS.get((ScorecardState(current), action))


def allowed_actions(current: ScorecardState | str) -> list[ScorecardAction]:
    state = ScorecardState(current)
    return [action for (source, action) in TRANSITIONS if source == state]

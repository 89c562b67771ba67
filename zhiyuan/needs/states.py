"""The life of a need, as one explicit state machine. Every change of state goes through here.

    submitted ─review→ under review ─dispatch→ dispatched ─accept→ accepted ─start→ in service
        │                  │                     │   ↑                │                │
        └──────reject──────┴→ rejected           │   └──dispatch── returned ←─return─┘ (finish)
                                                  └─return→ returned                    ↓
    completed ─rate→ rated                                                         completed

plus: cancel (the resident or proxy, or the dispatcher) before service starts; expire (the
clock) while nobody has accepted. ``returned`` waits for re-dispatch. A transition is allowed
only from the states listed for it and only for the parties listed for it; services check both
(``transition_check``) before changing anything, so a refused action leaves no trace but the
audit entry of the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class NeedState(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    UNDER_REVIEW = "under_review", _("Under review")
    REJECTED = "rejected", _("Rejected")
    DISPATCHED = "dispatched", _("Dispatched")
    ACCEPTED = "accepted", _("Accepted")
    IN_SERVICE = "in_service", _("In service")
    COMPLETED = "completed", _("Completed")
    RATED = "rated", _("Rated")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    RETURNED = "returned", _("Returned for re-dispatch")


class Action(models.TextChoices):
    SUBMIT = "submit", _("Posting")
    REVIEW = "review", _("Review")
    REJECT = "reject", _("Rejection")
    DISPATCH = "dispatch", _("Dispatch")
    GRAB = "grab", _("Taken by a team")
    ACCEPT = "accept", _("Acceptance")
    DECLINE = "decline", _("Offer declined")
    WITHDRAW = "withdraw", _("Place given up")
    RETURN = "return", _("Return for re-dispatch")
    START = "start", _("Start of service")
    FINISH = "finish", _("End of service")
    COMPLETE = "complete", _("Completion")
    RATE = "rate", _("Rating")
    CANCEL = "cancel", _("Cancellation")
    EXPIRE = "expire", _("Expiry")


class Party(models.TextChoices):
    """Who may take an action: a party to this need, not a role in general."""

    POSTER = "poster", _("the resident or the person who posted for them")
    DISPATCHER = "dispatcher", _("a dispatcher of the centre")
    VOLUNTEER = "volunteer", _("a volunteer offered or assigned")
    TEAM = "team", _("a team admin")
    SYSTEM = "system", _("the system")


S, A, P = NeedState, Action, Party

OPEN = frozenset({S.SUBMITTED, S.UNDER_REVIEW, S.RETURNED})  # waiting for the dispatcher
UNACCEPTED = OPEN | {S.DISPATCHED}
CANCELLABLE = UNACCEPTED | {S.ACCEPTED}
TERMINAL = frozenset({S.REJECTED, S.RATED, S.CANCELLED, S.EXPIRED})
# While these hold, the dispatcher and the assigned volunteers see the address and phone;
# from completion on they are hidden again (masked) for everyone.
CONTACT_VISIBLE = frozenset(
    {S.SUBMITTED, S.UNDER_REVIEW, S.RETURNED, S.DISPATCHED, S.ACCEPTED, S.IN_SERVICE}
)


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[NeedState]
    # None: the need keeps its state (e.g. one of several volunteers declines).
    target: NeedState | None
    parties: frozenset[Party]


def _t(
    action: Action,
    sources: set[NeedState] | frozenset[NeedState],
    target: NeedState | None,
    *parties: Party,
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(parties))


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in [
        _t(A.REVIEW, {S.SUBMITTED}, S.UNDER_REVIEW, P.DISPATCHER),
        _t(A.REJECT, OPEN, S.REJECTED, P.DISPATCHER),
        _t(A.DISPATCH, UNACCEPTED, S.DISPATCHED, P.DISPATCHER),
        _t(A.GRAB, {S.DISPATCHED}, None, P.TEAM),
        _t(A.ACCEPT, {S.DISPATCHED, S.ACCEPTED}, S.ACCEPTED, P.VOLUNTEER),
        _t(A.DECLINE, {S.DISPATCHED, S.ACCEPTED}, None, P.VOLUNTEER),
        _t(A.WITHDRAW, {S.ACCEPTED}, None, P.VOLUNTEER),
        _t(A.RETURN, {S.DISPATCHED, S.ACCEPTED}, S.RETURNED, P.DISPATCHER, P.SYSTEM),
        _t(A.START, {S.ACCEPTED, S.IN_SERVICE}, S.IN_SERVICE, P.VOLUNTEER),
        _t(A.FINISH, {S.IN_SERVICE}, None, P.VOLUNTEER),
        _t(A.COMPLETE, {S.IN_SERVICE}, S.COMPLETED, P.SYSTEM),
        _t(A.RATE, {S.COMPLETED}, S.RATED, P.POSTER),
        _t(A.CANCEL, CANCELLABLE, S.CANCELLED, P.POSTER, P.DISPATCHER),
        _t(A.EXPIRE, UNACCEPTED, S.EXPIRED, P.SYSTEM),
    ]
}


class IllegalTransition(Exception):
    """The action is not possible in the need's present state (HTTP 409); nothing changed."""

    code = "illegal_transition"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


def transition_check(state: str, action: Action, party: Party) -> Transition:
    """The transition for ``action`` from ``state`` by ``party``, or IllegalTransition."""
    transition = TRANSITIONS[action]
    if party not in transition.parties:
        raise IllegalTransition(
            _("%(action)s of this need is for %(parties)s only.")
            % {
                "parties": ", ".join(str(p.label) for p in sorted(transition.parties)),
                "action": action.label,
            },
            code="wrong_party",
        )
    if state not in transition.sources:
        raise IllegalTransition(
            _("This need is %(state)s: %(action)s is not possible now.")
            % {
                "state": str(NeedState(state).label).lower(),
                "action": str(action.label).lower(),
            }
        )
    return transition


def target_of(state: str, action: Action) -> NeedState:
    transition = TRANSITIONS[action]
    return transition.target if transition.target is not None else NeedState(state)


# What the resident reads under the state: where the need stands and what happens next.
NEXT_STEP = {
    S.SUBMITTED: _(
        "The service centre will review your need next. You will be told here and by message."
    ),
    S.UNDER_REVIEW: _(
        "A dispatcher is checking your need and will send it to a team or to volunteers."
    ),
    S.REJECTED: _(
        "The centre could not take this need; the reason is below. You may post a new one or "
        "call your community."
    ),
    S.DISPATCHED: _(
        "Your need has been sent to volunteers. You will be told as soon as one accepts."
    ),
    S.ACCEPTED: _(
        "A volunteer has accepted and will come at the agreed time. They may call you first."
    ),
    S.IN_SERVICE: _("The volunteer has started the service."),
    S.COMPLETED: _("The service is finished. Please confirm it and rate how it went."),
    S.RATED: _("Thank you for your rating. This need is closed."),
    S.CANCELLED: _("This need was cancelled. Nothing more will happen."),
    S.EXPIRED: _(
        "No volunteer could take this need in time. You may post it again or call your community."
    ),
    S.RETURNED: _("The volunteers first asked could not take it; the centre is finding others."),
}

# The main path shown as steps to the resident.
MAIN_PATH = [
    S.SUBMITTED,
    S.UNDER_REVIEW,
    S.DISPATCHED,
    S.ACCEPTED,
    S.IN_SERVICE,
    S.COMPLETED,
    S.RATED,
]


def step_of(state: str) -> int:
    """Position on the main path (returned counts as under review again)."""
    state = NeedState(state)
    if state == S.RETURNED:
        return MAIN_PATH.index(S.UNDER_REVIEW)
    return MAIN_PATH.index(state) if state in MAIN_PATH else -1

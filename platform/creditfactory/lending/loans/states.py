"""The loan account state machine of DOMAIN §2.6, in one place (services and COB's SQL both follow it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from ...errors import Conflict
from .models import LoanAccount, LoanEvent

ACTIVE, OVERDUE, RESTRUCTURED, SETTLED, IN_LITIGATION, WRITTEN_OFF = (
    "active", "overdue", "restructured", "settled", "in_litigation", "written_off")

#: from -> allowed targets. ``settled -> active/overdue`` only by reversing the posting that settled it.
TRANSITIONS: dict[str, frozenset[str]] = {
    ACTIVE: frozenset({OVERDUE, RESTRUCTURED, SETTLED}),
    OVERDUE: frozenset({ACTIVE, RESTRUCTURED, SETTLED, IN_LITIGATION, WRITTEN_OFF}),
    RESTRUCTURED: frozenset({SETTLED, RESTRUCTURED}),
    IN_LITIGATION: frozenset({WRITTEN_OFF, SETTLED}),
    SETTLED: frozenset({ACTIVE, OVERDUE, RESTRUCTURED}),
    WRITTEN_OFF: frozenset(),
}
#: States in which the loan is on the books and COB services it.
OPEN_STATES = (ACTIVE, OVERDUE, RESTRUCTURED, IN_LITIGATION)
#: The only moves COB makes on its own (by DPD); anything else needs a person.
COB_TRANSITIONS = ((ACTIVE, OVERDUE), (OVERDUE, ACTIVE))
assert all(to in TRANSITIONS[frm] for frm, to in COB_TRANSITIONS)


def move(session: Session, loan: LoanAccount, to: str, *, reason: str, business_date: dt.date,
         details: Any = None) -> None:
    """Move ``loan`` to state ``to`` or refuse (409) a transition DOMAIN §2.6 does not allow."""
    if to == loan.state:
        return
    if to not in TRANSITIONS[loan.state]:
        raise Conflict(f"a loan cannot go from {loan.state} to {to}")
    session.add(LoanEvent(loan_id=loan.id, from_state=loan.state, to_state=to, reason=reason,
                          business_date=business_date, details=details))
    loan.state = to
    loan.row_version += 1

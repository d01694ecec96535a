"""Changes made to a conversation between its messages: by staff (asking
for more information, handing a chat back) or by the engine's sweep of
abandoned drafts.

They write the dialogue's own states and slots, so they live here with the
dialogue rather than in the code that calls them. Each is pure: it gets the
conversation's state (and slots) and returns the new ones for the caller to
store; the slots given are never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flows.machine import STATES
from flows.states import INFO, MENU, STAFF, START
from flows.types import INFO_WANTED, KnownRequest, ProvideInfo

# The slot that carries a notice to the next message, and the notice of an
# expired draft (the dialogue tells it before answering).
NOTICE_SLOT = "_notice"
DRAFT_EXPIRED = "draft.expired"


def await_info(state: str, reference: str) -> tuple[str, dict[str, Any]] | None:
    """Staff asked for more about ``reference``: the customer's next messages
    and files go to it. None while the customer is in the middle of something
    else (a draft, a code, a chat with staff), whose state must stay as it is."""
    if state not in (START, MENU, INFO):
        return None
    return INFO, {"info_ref": reference}


def answers_while_held(
    requests: Sequence[KnownRequest], text: str, tokens: Sequence[str]
) -> list[ProvideInfo]:
    """A person holds the chat, so the bot keeps quiet; what the customer
    sends still answers a request staff asked more about (the newest that
    waits for it; ``requests`` newest first), as it would were the bot
    reading: the request shows answered in the queue and its files reach it.
    Staff asking while they hold the chat is the usual case, not a corner."""
    waiting = next((r for r in requests if r.status in INFO_WANTED), None)
    if waiting is None:
        return []
    answers = [ProvideInfo(waiting.reference, "", token) for token in tokens]
    if text.strip():
        answers.append(ProvideInfo(waiting.reference, text, None))
    return answers


def release_to_bot(
    state: str, slots: dict[str, Any], requests: Sequence[KnownRequest] = ()
) -> tuple[str, dict[str, Any]]:
    """Staff hand a chat back to the bot. A customer waiting for staff goes
    back to what they left for them (``_return``, e.g. a draft); with nothing
    left there, to the newest request staff asked more about (its answer
    still pending: ``requests`` newest first), else to the menu; any other
    state stays."""
    rest = dict(slots)
    if state != STAFF:
        return state, rest
    back = rest.pop("_return", None)
    if back in STATES and back not in (START, MENU):
        return back, rest
    asked = next((r for r in requests if r.status in INFO_WANTED), None)
    if asked is not None:
        return INFO, {**rest, "info_ref": asked.reference}
    return (back if back in STATES else MENU), rest


def expire_draft() -> tuple[str, dict[str, Any]]:
    """A draft nobody came back to in time is dropped (the caller deletes its
    files, see ``flows.states.draft_files``): the conversation is at the menu,
    and its next message is first told why."""
    return MENU, {NOTICE_SLOT: DRAFT_EXPIRED}

"""The privacy-request dialogue: one state machine, built once, driven per message.

``Dialogue.step`` is pure: snapshot + inbound + context in, outcome out.
This module is the public entry; the parts live beside it:

- ``flows.states``: state names, the steps of each request type;
- ``flows.machine``: the ``transitions`` machine (legal moves), built once;
- ``flows.prompts``: what each state asks;
- ``flows.moves``: moves shared by several steps (advance, fail, hand over...);
- ``flows.commands``: commands valid at every step, idle drafts;
- ``flows.attachments``: files sent by the customer;
- ``flows.steps``: what a typed answer means at each step, in a table;
- ``flows.interventions``: changes staff or the engine make between messages.
"""

from __future__ import annotations

from flows.attachments import attachments
from flows.commands import global_command, idle_draft
from flows.interventions import (
    DRAFT_EXPIRED,
    NOTICE_SLOT,
    answers_while_held,
    await_info,
    expire_draft,
    release_to_bot,
)
from flows.machine import MACHINE, STATES
from flows.moves import fail, reset
from flows.prompts import prompt
from flows.run import Run
from flows.states import (
    GLOBAL_STATES,
    INFO,
    MENU,
    START,
    STEPS,
    asks_code,
    draft_files,
    holds_draft,
    is_draft,
    split_state,
    state_name,
)
from flows.steps import answer
from flows.types import (
    INFO_WANTED,
    Context,
    Inbound,
    KnownRequest,
    Outcome,
    Reply,
    RequestStatus,
    Snapshot,
)
from flows.validators import clean_text
from flows.vocabulary import Vocabulary

__all__ = [
    "GLOBAL_STATES",
    "MENU",
    "START",
    "STEPS",
    "Dialogue",
    "answers_while_held",
    "asks_code",
    "await_info",
    "draft_files",
    "expire_draft",
    "holds_draft",
    "is_draft",
    "release_to_bot",
    "split_state",
    "state_name",
]


class Dialogue:
    """The conversation logic. Build one at start and share it."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.machine = MACHINE
        self.states: frozenset[str] = STATES
        self.initial_state = START

    def step(self, snapshot: Snapshot, inbound: Inbound, ctx: Context) -> Outcome:
        run = Run(snapshot, ctx, self.vocabulary)
        if run.state not in self.states:
            # A state from an older release or a damaged row: start afresh
            # rather than trap the customer.
            run.state, run.slots = MENU, {}
            run.say("error.state_reset")
            reset(run)
            return _outcome(run)
        _handle(run, snapshot, inbound)
        if not run.replies:  # every message deserves an answer
            prompt(run)
        return _outcome(run)

    def expects_file(
        self, state: str, requests: tuple[KnownRequest, ...], info_ref: str | None = None
    ) -> bool:
        """Whether a file sent now would be used, so channels fetch only those.
        ``info_ref``: the request staff asked more about (the conversation's
        slot), which takes a file as its answer while it waits for one."""
        if split_state(state)[1] == "id_proof":
            return True
        if state == INFO and any(
            r.reference == info_ref and r.status in INFO_WANTED for r in requests
        ):
            return True
        return state in (START, MENU) and any(
            r.status == RequestStatus.AWAITING_ID_PROOF for r in requests
        )

    def prompt(self, snapshot: Snapshot, ctx: Context) -> list[Reply]:
        """The question the conversation is waiting on, e.g. after a language change."""
        run = Run(snapshot, ctx, self.vocabulary)
        prompt(run)
        return run.replies


def _outcome(run: Run) -> Outcome:
    return Outcome(
        state=run.state,
        slots=run.slots,
        language=run.language,
        failures=run.failures,
        replies=run.replies,
        effects=run.effects,
    )


def _handle(run: Run, snapshot: Snapshot, inbound: Inbound) -> None:
    """One message, in order of precedence: an expired or idle draft, a message
    too long or empty, a stale button, a command, files, then the answer."""
    text = clean_text(inbound.text) if not inbound.oversized else ""
    command = run.vocabulary.command(text) if text else None
    run.unplaced_before = int(run.slots.pop("_unplaced", 0))
    notice = run.slots.pop(NOTICE_SLOT, None)
    if notice == DRAFT_EXPIRED:  # left by the sweep of abandoned drafts (expire_draft)
        run.say("draft.expired", days=run.ctx.draft_expiry_days)

    if idle_draft(run, snapshot, command):
        return
    if inbound.oversized:
        fail(run, "hint.too_long", limit=run.ctx.max_text_length)
        return
    if not text and not inbound.attachments:
        run.say("hint.empty")
        prompt(run)
        return
    if inbound.expected_state is not None and inbound.expected_state != run.state:
        run.say("button.stale")
        prompt(run)
        return
    if command and global_command(run, command):
        return
    if inbound.attachments:
        handled = attachments(run, inbound.attachments, bool(text))
        if handled or not text:
            if not handled:
                prompt(run)
            return
    answer(run, text, command)

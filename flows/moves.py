"""Moves shared by several steps and commands: advance, fail, hand over,
start or drop a draft, file it.

Each acts on one message's ``Run`` and says what the customer must hear, so
a step handler is mostly a choice between these.
"""

from __future__ import annotations

from typing import Any

from flows.machine import STATES, fire, jump
from flows.prompts import MENU_BUTTONS, about, prompt
from flows.run import Run
from flows.states import (
    PROOF_FOR,
    RESUME,
    STAFF,
    START,
    STATUS_CODE,
    draft_files,
    holds_draft,
    is_draft,
)
from flows.types import DiscardAttachments, Escalate, FileRequest, Label, RequestType

# Messages in a row the bot cannot place (at the menu) before a person takes over.
UNPLACED_LIMIT = 2
# What a filed request keeps of the draft's slots (the rest is the dialogue's own).
SLOT_KEYS = (
    "full_name",
    "email",
    "reason",
    "reason_code",
    "correction_field",
    "correction_note",
    "correction_value",
    "restriction_scope",
    "restriction_other",
)


def begin(run: Run, rtype: RequestType, trigger: str) -> None:
    """Start a fresh draft of ``rtype``; deletion opens with its consequences."""
    fire(run, trigger)
    run.slots = {"type": rtype.value, "_started": run.ctx.now.isoformat()}
    run.failures = 0
    if rtype is not RequestType.DELETION:
        run.say(f"intro.{rtype.value}")
    prompt(run)


def store(run: Run, slot: str, value: Any, hint: str | None) -> None:
    """Keep a valid answer and go on; otherwise say what was wrong with it."""
    if hint is not None:
        fail(run, hint)
        return
    run.slots[slot] = value
    advance(run)


def advance(run: Run) -> None:
    fire(run, "next")
    if run.step == "summary":
        run.slots.pop("_editing", None)
    run.failures = 0
    prompt(run)


def fail(run: Run, hint: str, *, asks_for_file: bool = False, **params: Any) -> bool:
    """A failed answer at this step. After ``max_failures`` of them a person
    takes over (True). Code steps only offer staff: they have their own
    limit (wrong tries, then a lock) that a hand-over must not bypass."""
    run.failures += 1
    if asks_for_file:
        run.ask_for_file(hint, **params)
    else:
        run.say(hint, **params)
    if run.failures < run.ctx.max_failures or run.state == STAFF:
        return False
    if hint.rpartition(".")[2].startswith("code_") or run.state == STATUS_CODE:
        run.say("hint.offer_staff")
        return False
    escalate(run, "failed_answers")
    return True


def unplaced(run: Run) -> bool:
    """A message the bot could not place at all; the second in a row goes
    to a person (True)."""
    count = run.unplaced_before + 1
    if count >= UNPLACED_LIMIT:
        escalate(run, "unplaced")
        return True
    run.slots["_unplaced"] = count
    return False


def cancel(run: Run) -> None:
    had_draft = holds_draft(run.state) or (run.state == STAFF and bool(run.slots.get("_return")))
    run.say("cancel.done" if had_draft else "cancel.nothing")
    discard_draft(run)
    reset(run)


def reset(run: Run) -> None:
    """Back to the main menu with nothing pending."""
    greet = run.state == START
    fire(run, "reset")
    run.slots = {}
    run.failures = 0
    run.ask("menu.welcome" if greet else "menu.prompt", MENU_BUTTONS)


def back(run: Run) -> None:
    if run.state == STAFF:
        leave_staff(run)
    elif run.state == RESUME:
        restore(run)
    elif run.state == STATUS_CODE and fire(run, "back"):
        run.failures = 0
        prompt(run)
    elif is_draft(run.state) and fire(run, "back"):
        if run.step == "summary":
            run.slots.pop("_editing", None)
        run.failures = 0
        prompt(run)
    elif is_draft(run.state):
        cancel(run)  # back from the first step leaves the request
    else:
        discard_draft(run)
        reset(run)


def escalate(run: Run, reason: str) -> None:
    """Hand the chat to a person, remembering a draft to come back to."""
    if is_draft(run.state) or run.state == PROOF_FOR:
        run.slots["_return"] = run.state
    elif run.state == RESUME:
        pass  # keep the pending _return
    else:
        run.slots.pop("_return", None)
    fire(run, "escalate")
    run.failures = 0
    run.slots.pop("_unplaced", None)
    run.effect(Escalate(reason))
    run.say("staff.waiting" if reason == "customer_request" else "staff.handover")
    if run.ctx.staff_opens_at is not None:
        run.say("staff.after_hours", opens=run.ctx.staff_opens_at)


def leave_staff(run: Run) -> None:
    run.say("staff.back_to_bot")
    if run.slots.get("_return"):
        restore(run)
    else:
        reset(run)


def restore(run: Run) -> None:
    """Back to the state kept in ``_return`` (a draft left for staff or a pause)."""
    target = run.slots.pop("_return", None)
    if not target or target not in STATES:
        reset(run)
        return
    jump(run, target)
    run.failures = 0
    prompt(run)


def discard_draft(run: Run) -> None:
    tokens = draft_files(run.slots)
    if tokens:
        run.effect(DiscardAttachments(tokens))
    run.slots = {}


def duplicate(run: Run) -> bool:
    """An open request of this type for the verified email means no second
    one: point the customer to it and end the draft."""
    open_one = next((r for r in run.ctx.open_same_email if r.type is run.rtype), None)
    if open_one is None:
        return False
    run.say("duplicate.open", **about(open_one))
    discard_draft(run)
    reset(run)
    return True


def file_request(run: Run) -> None:
    """File the confirmed draft, unless the same request is already open."""
    rtype = run.rtype
    assert rtype is not None
    if duplicate(run):
        return
    due = run.ctx.due_dates.get(rtype, run.ctx.due_date)
    reference = f"{rtype.prefix}-{run.ctx.new_reference_suffix}"
    proof = run.slots.get("id_proof")
    fields = {k: run.slots.get(k) for k in SLOT_KEYS if run.slots.get(k) is not None}
    run.effect(
        FileRequest(
            reference=reference,
            type=rtype,
            fields=fields,
            id_proof_token=proof["token"] if proof else None,
            due_date=due,
        )
    )
    fire(run, "file")
    run.slots = {}
    run.failures = 0
    run.say(
        "filed.ack",
        reference=reference,
        type=Label(f"type.{rtype.value}"),
        due_date=due,
    )
    if proof:
        run.say("filed.proof_received", reference=reference)
    else:
        run.ask_for_file("filed.proof_later", reference=reference)

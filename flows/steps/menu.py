"""The main menu and the states around it: choosing what to do, waiting for
staff, resuming a paused draft, placing a sent file, cancelling a request."""

from __future__ import annotations

import re

from flows.interventions import answers_while_held
from flows.machine import fire
from flows.moves import begin, discard_draft, escalate, fail, reset, restore, unplaced
from flows.prompts import MAIN_OPTIONS, MENU_BUTTONS, prompt
from flows.run import Run
from flows.states import CANCEL_CONFIRM, MENU, PROOF_FOR, RESUME, STAFF, START
from flows.steps.registry import handles
from flows.steps.status import answer_status
from flows.types import OPEN_STATUSES, AttachProof, CancelRequest, RequestStatus, RequestType
from flows.validators import find_reference, parse_choices, parse_reference

_CANCEL_REQUEST = re.compile(r"^(?:batalkan|batal|cancel)\s+(\S+)$", re.IGNORECASE)


@handles(START, MENU)
def on_menu(run: Run, text: str, command: str | None) -> None:
    match = _CANCEL_REQUEST.match(text.strip())
    if match and parse_reference(match.group(1)):
        ask_cancel(run, parse_reference(match.group(1)) or "")
        return
    reference = parse_reference(text)
    if reference is None and run.vocabulary.mentions("main", "status", text):
        reference = find_reference(text)  # "status DEL-7K3M9Q": both at once
    if reference:
        answer_status(run, reference)
        return
    choice = run.vocabulary.choose("main", text, MAIN_OPTIONS)
    if choice is None:
        if run.state == START:
            run.state = MENU
            run.ask("menu.welcome", MENU_BUTTONS)
            return
        if not unplaced(run) and not fail(run, "menu.unclear"):
            run.ask("menu.prompt", MENU_BUTTONS)
        return
    run.failures = 0
    if choice == "staff":
        escalate(run, "customer_request")
    elif choice == "status":
        fire(run, "ask_status")
        prompt(run)
    else:
        rtype = RequestType(choice)
        begin(run, rtype, f"start_{rtype.value}")


def ask_cancel(run: Run, reference: str) -> None:
    """A customer cancelling a filed request: only their own, open, and only
    after saying yes. Any other reference gets the same 'not possible'."""
    run.failures = 0
    own = next((r for r in run.ctx.requests if r.reference == reference), None)
    if own is None or own.status not in OPEN_STATUSES:
        run.say("cancel_request.not_possible", reference=reference)
        return
    fire(run, "confirm_cancel")
    run.slots = {"cancel_ref": reference}
    prompt(run)


@handles(CANCEL_CONFIRM)
def on_cancel_confirm(run: Run, text: str, command: str | None) -> None:
    choice = run.vocabulary.choose("yes_no", text, ("yes", "no"))
    reference = run.slots.get("cancel_ref", "")
    if choice == "yes":
        run.effect(CancelRequest(reference))
        run.say("cancel_request.done", reference=reference)
    elif choice == "no":
        run.say("cancel_request.kept", reference=reference)
    else:
        fail(run, "hint.choose_number", count=2)
        return
    fire(run, "done")
    run.slots = {}
    run.failures = 0


@handles(STAFF)
def on_staff(run: Run, text: str, command: str | None) -> None:
    """Waiting for staff: the bot only says so; words that answer a request
    staff asked more about still reach it (as in a chat a person holds)."""
    answers = answers_while_held(run.ctx.requests, text, ())
    for effect in answers:
        run.effect(effect)
    if answers:
        run.say("staff.info_noted", reference=answers[0].reference)
    else:
        run.say("staff.still_waiting")


@handles(RESUME)
def on_resume(run: Run, text: str, command: str | None) -> None:
    choice = run.vocabulary.choose("resume", text, ("continue", "restart"))
    if choice == "continue":
        restore(run)
    elif choice == "restart":
        run.say("draft.restarted")
        discard_draft(run)
        reset(run)
    else:
        fail(run, "hint.choose_number", count=2)


@handles(PROOF_FOR)
def on_proof_for(run: Run, text: str, command: str | None) -> None:
    waiting = [r for r in run.ctx.requests if r.status == RequestStatus.AWAITING_ID_PROOF]
    numbers = parse_choices(text, len(waiting))
    reference = parse_reference(text)
    target = None
    if numbers and len(numbers) == 1:
        target = waiting[numbers[0] - 1].reference
    elif reference and any(r.reference == reference for r in waiting):
        target = reference
    if target is None:
        fail(run, "hint.choose_number", count=len(waiting))
        return
    run.effect(AttachProof(target, run.slots["proof_token"]))
    run.say("proof.attached_to", reference=target)
    fire(run, "done")
    run.slots = {}
    run.failures = 0

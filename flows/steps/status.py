"""Telling a customer where a request stands.

A request filed from the same address is answered at once; for any other
reference (existing or not: the answer must not tell) the customer proves
the request's email with a code first.
"""

from __future__ import annotations

from flows.machine import fire
from flows.moves import fail
from flows.prompts import about, prompt
from flows.run import Run
from flows.states import STATUS, STATUS_CODE, STATUS_EMAIL
from flows.steps.codes import check_code
from flows.steps.registry import handles
from flows.types import KnownRequest, SendCode
from flows.validators import find_reference, parse_reference, validate_email_address


@handles(STATUS)
def on_status(run: Run, text: str, command: str | None) -> None:
    reference = parse_reference(text) or find_reference(text)
    if reference is None:
        fail(run, "hint.reference")
        return
    answer_status(run, reference)


def answer_status(run: Run, reference: str) -> None:
    """Status of a request filed from this address; for any other reference
    (existing or not: the answer must not tell) ask for proof by email."""
    run.failures = 0
    known = next((r for r in run.ctx.requests if r.reference == reference), None)
    if known is None:
        fire(run, "verify_status")
        run.slots = {"status_ref": reference}
        prompt(run)
        return
    say_status(run, known)
    if run.state == STATUS:
        fire(run, "done")
        run.slots = {}


def say_status(run: Run, known: KnownRequest) -> None:
    run.say("status.answer", **about(known))


@handles(STATUS_EMAIL)
def on_status_email(run: Run, text: str, command: str | None) -> None:
    email, hint = validate_email_address(text)
    if email is None:
        fail(run, hint or "hint.email")
        return
    run.slots["status_email"] = email
    run.effect(SendCode(f"status:{run.slots['status_ref']}", email))
    fire(run, "next")
    run.failures = 0
    prompt(run)


@handles(STATUS_CODE)
def on_status_code(run: Run, text: str, command: str | None) -> None:
    purpose = f"status:{run.slots.get('status_ref')}"
    if not check_code(run, text, command, purpose, run.slots.get("status_email", "")):
        return
    verified = run.ctx.verified_request
    if verified is not None and verified.reference == run.slots.get("status_ref"):
        say_status(run, verified)
    else:  # cannot happen with a correct code; answer as for any unknown request
        run.say("status.unknown", reference=run.slots.get("status_ref"))
    fire(run, "done")
    run.slots = {}

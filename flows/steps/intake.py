"""The steps of a draft request: what the customer tells us, checked one
answer at a time, then the summary to confirm or edit."""

from __future__ import annotations

from flows.machine import fire
from flows.moves import advance, begin, cancel, fail, file_request, store
from flows.prompts import CORRECTION_FIELDS, DELETION_REASONS, RESTRICTION_SCOPES, mb, prompt
from flows.run import Run
from flows.states import editable
from flows.steps.registry import handles
from flows.types import DiscardAttachments, RequestType, SendCode
from flows.validators import (
    parse_choices,
    validate_email_address,
    validate_name,
    validate_reason,
    validate_value,
)


@handles("consequences")
def on_consequences(run: Run, text: str, command: str | None) -> None:
    choice = run.vocabulary.choose("consequences", text, ("continue", "copy_first", "menu"))
    if choice == "continue":
        advance(run)
    elif choice == "copy_first":
        begin(run, RequestType.ACCESS, "copy_first")
    elif choice == "menu":
        cancel(run)
    else:
        fail(run, "hint.choose_number", count=3)


@handles("full_name")
def on_full_name(run: Run, text: str, command: str | None) -> None:
    store(run, "full_name", *validate_name(text))


@handles("email")
def on_email(run: Run, text: str, command: str | None) -> None:
    email, hint = validate_email_address(text)
    if email is not None:
        run.slots.pop("email_verified", None)
        run.effect(SendCode("request", email))
    store(run, "email", email, hint)


@handles("reason")
def on_reason(run: Run, text: str, command: str | None) -> None:
    rtype = run.rtype
    if rtype is RequestType.DELETION:
        numbers = parse_choices(text, len(DELETION_REASONS))
        if numbers is not None and len(numbers) == 1:
            run.slots["reason_code"] = DELETION_REASONS[numbers[0] - 1]
            run.slots["reason"] = None
            advance(run)
            return
        if numbers is not None or text.strip().isdigit():
            fail(run, "hint.choose_number", count=len(DELETION_REASONS))
            return
        value, hint = validate_reason(text)
        if value is not None:
            run.slots["reason_code"] = "other"
        store(run, "reason", value, hint)
        return
    if rtype is RequestType.ACCESS and command == "skip":
        run.slots["reason"] = None
        run.slots["reason_skipped"] = True
        advance(run)
        return
    store(run, "reason", *validate_reason(text))


@handles("reason_other")
def on_reason_other(run: Run, text: str, command: str | None) -> None:
    store(run, "reason", *validate_reason(text))


@handles("correction_field")
def on_correction_field(run: Run, text: str, command: str | None) -> None:
    numbers = parse_choices(text, len(CORRECTION_FIELDS))
    if numbers is not None and len(numbers) == 1:
        run.slots["correction_field"] = CORRECTION_FIELDS[numbers[0] - 1]
        run.slots["correction_note"] = None
        advance(run)
        return
    if text.strip().isdigit():
        fail(run, "hint.choose_number", count=len(CORRECTION_FIELDS))
        return
    choice = run.vocabulary.choose("correction_field", text, CORRECTION_FIELDS)
    value, hint = validate_reason(text)
    if choice is None and value is None:
        fail(run, hint or "hint.choose_number", count=len(CORRECTION_FIELDS))
        return
    run.slots["correction_field"] = choice or "other"
    # Keep what the customer wrote when it says more than the option's name.
    run.slots["correction_note"] = value if len(text.split()) > 2 else None
    advance(run)


@handles("correction_value")
def on_correction_value(run: Run, text: str, command: str | None) -> None:
    store(run, "correction_value", *validate_value(text))


@handles("restriction_scope")
def on_restriction_scope(run: Run, text: str, command: str | None) -> None:
    numbers = parse_choices(text, len(RESTRICTION_SCOPES))
    if numbers is not None:
        scopes = [RESTRICTION_SCOPES[n - 1] for n in numbers]
    else:
        scopes = [
            option
            for option in RESTRICTION_SCOPES
            if run.vocabulary.choose("restriction_scope", text, (option,))
        ]
    if not scopes:
        fail(run, "hint.restriction_scope", count=len(RESTRICTION_SCOPES))
        return
    run.slots["restriction_scope"] = scopes
    if "other" not in scopes:
        run.slots["restriction_other"] = None
    advance(run)


@handles("restriction_other")
def on_restriction_other(run: Run, text: str, command: str | None) -> None:
    store(run, "restriction_other", *validate_reason(text))


@handles("id_proof")
def on_id_proof(run: Run, text: str, command: str | None) -> None:
    """Typed words at the ID step: later, keep the file sent, or a hint (the
    file itself arrives as an attachment, see ``flows.attachments``)."""
    if command == "later":
        old = run.slots.pop("id_proof", None)
        if old:
            run.effect(DiscardAttachments((old["token"],)))
        run.slots["id_later"] = True
        run.say("proof.later")
        advance(run)
    elif command == "keep" and (run.slots.get("id_proof") or run.slots.get("id_later")):
        advance(run)
    else:
        fail(run, "hint.id_proof", asks_for_file=True, limit_mb=mb(run.ctx))


@handles("summary")
def on_summary(run: Run, text: str, command: str | None) -> None:
    choice = run.vocabulary.choose("summary", text, ("confirm", "edit", "cancel"))
    if choice == "confirm":
        file_request(run)
    elif choice == "edit":
        fire(run, "edit")
        run.failures = 0
        prompt(run)
    elif choice == "cancel":
        cancel(run)
    else:
        fail(run, "hint.choose_number", count=3)


@handles("edit")
def on_edit(run: Run, text: str, command: str | None) -> None:
    rtype = run.rtype
    assert rtype is not None
    fields = editable(rtype)
    choice = run.vocabulary.choose("edit", text, fields)
    if choice is None:
        fail(run, "hint.choose_number", count=len(fields))
        return
    fire(run, f"edit_{choice}")
    run.slots["_editing"] = True
    run.failures = 0
    prompt(run)

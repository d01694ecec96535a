"""What each state asks, with the options and buttons it offers.

A prompt is the question the conversation is waiting on: it is repeated
whenever a message leaves nothing else to say, after a language change and
when a paused draft is resumed, so it depends only on the state, the slots
and the context.
"""

from __future__ import annotations

from typing import Any

from flows.run import Run
from flows.states import (
    CANCEL_CONFIRM,
    INFO,
    MENU,
    PROOF_FOR,
    RESUME,
    STAFF,
    START,
    STATUS,
    STATUS_CODE,
    STATUS_EMAIL,
    editable,
    is_draft,
    split_state,
)
from flows.types import (
    Button,
    Context,
    KnownRequest,
    Label,
    Reply,
    RequestStatus,
    RequestType,
    Seq,
)

MAIN_OPTIONS = ("deletion", "access", "correction", "restriction", "status", "staff")
DELETION_REASONS = ("no_longer_used", "switching", "privacy", "business_closed", "other")
CORRECTION_FIELDS = ("name", "email", "phone", "business", "address", "other")
RESTRICTION_SCOPES = ("promotions", "recommendations", "analytics", "partners", "other")


def numbered(prefix: str, options: tuple[str, ...]) -> tuple[Button, ...]:
    """Buttons for a numbered list: each sends its number, as a typed answer would."""
    return tuple(Button(Label(f"{prefix}.{o}"), str(i)) for i, o in enumerate(options, 1))


MENU_BUTTONS = numbered("button.main", MAIN_OPTIONS)
RESEND_BUTTON = Button(Label("button.resend"), "kirim ulang")


def about(known: KnownRequest) -> dict[str, Any]:
    """What a reply tells of a request: reference, type, status, due date."""
    return {
        "reference": known.reference,
        "type": Label(f"type.{known.type.value}"),
        "status": Label(f"request_status.{known.status}"),
        "due_date": known.due_date,
    }


def mb(ctx: Context) -> int:
    return ctx.max_attachment_bytes // (1024 * 1024)


def prompt(run: Run, since: Any = None) -> None:
    """Ask what the current state waits for; ``since`` is when a paused draft
    was last touched (the resume question tells it)."""
    rtype, step = run.rtype, run.step
    if run.state == START:
        run.ask("menu.welcome", MENU_BUTTONS)
    elif run.state == MENU:
        run.ask("menu.prompt", MENU_BUTTONS)
    elif run.state == STATUS:
        run.say("prompt.status")
    elif run.state == INFO:
        run.say("prompt.info", reference=run.slots.get("info_ref"))
    elif run.state == CANCEL_CONFIRM:
        run.ask(
            "cancel_request.confirm",
            numbered("button.yes_no", ("yes", "no")),
            reference=run.slots.get("cancel_ref"),
        )
    elif run.state == STATUS_EMAIL:
        run.say("prompt.status_email", reference=run.slots.get("status_ref"))
    elif run.state == STATUS_CODE:
        run.ask("prompt.status_code", (RESEND_BUTTON,), reference=run.slots.get("status_ref"))
    elif step == "email_code":
        run.ask(
            "prompt.email_code",
            (RESEND_BUTTON,),
            email=run.slots.get("email"),
            minutes=run.ctx.code_minutes,
        )
    elif run.state == STAFF:
        run.say("staff.still_waiting")
    elif run.state == RESUME:
        target = run.slots.get("_return", "")
        kind = split_state(target)[0] if is_draft(target) else None
        run.ask(
            "prompt.resume",
            numbered("button.resume", ("continue", "restart")),
            type=Label(f"type.{kind.value}") if kind else Label("type.proof"),
            since=since or run.ctx.now,
        )
    elif run.state == PROOF_FOR:
        waiting = [r for r in run.ctx.requests if r.status == RequestStatus.AWAITING_ID_PROOF]
        items = tuple(
            Reply(
                "list.request",
                {"n": i, "reference": r.reference, "type": Label(f"type.{r.type.value}")},
            )
            for i, r in enumerate(waiting, 1)
        )
        buttons = tuple(Button(r.reference, str(i)) for i, r in enumerate(waiting, 1))
        run.ask("prompt.proof_for", buttons, requests=Seq(items))
    elif rtype is not None and step == "reason":
        if rtype is RequestType.DELETION:
            buttons = numbered("choice.deletion_reason", DELETION_REASONS)
        elif rtype is RequestType.ACCESS:
            buttons = (Button(Label("button.skip"), "lewati"),)
        else:
            buttons = ()
        run.ask(f"prompt.reason.{rtype.value}", buttons)
    elif rtype is not None and step == "summary":
        run.ask(
            "summary",
            numbered("button.summary", ("confirm", "edit", "cancel")),
            type=Label(f"type.{rtype.value}"),
            fields=summary(run),
        )
    elif rtype is not None and step == "edit":
        fields = editable(rtype)
        items = tuple(
            Reply("list.item", {"n": i, "label": Label(f"field.{f}")})
            for i, f in enumerate(fields, 1)
        )
        run.ask("prompt.edit", numbered("field", fields), fields=Seq(items))
    elif step == "id_proof":
        later = Button(Label("button.later"), "nanti")
        if run.slots.get("id_proof"):
            run.ask_for_file("prompt.id_proof", limit_mb=mb(run.ctx))
            run.ask("prompt.id_proof_have", (Button(Label("button.keep"), "lanjut"), later))
        else:
            run.ask_for_file("prompt.id_proof", (later,), limit_mb=mb(run.ctx))
    elif step == "consequences":
        run.ask(
            "prompt.consequences",
            numbered("button.consequences", ("continue", "copy_first", "menu")),
        )
    elif step == "correction_field":
        run.ask("prompt.correction_field", numbered("choice.correction_field", CORRECTION_FIELDS))
    elif step == "restriction_scope":
        # Several may be chosen by typing "1, 3"; a button picks one.
        run.ask(
            "prompt.restriction_scope",
            numbered("choice.restriction_scope", RESTRICTION_SCOPES),
        )
    else:
        run.say(f"prompt.{step}")


def summary(run: Run) -> Seq:
    """The draft's answers, one line each, for the customer to confirm."""
    rtype = run.rtype
    assert rtype is not None
    slots = run.slots
    lines: list[Reply] = []

    def line(field: str, value: Any) -> None:
        lines.append(Reply("summary.line", {"label": Label(f"field.{field}"), "value": value}))

    line("full_name", slots.get("full_name"))
    line("email", slots.get("email"))
    if rtype is RequestType.CORRECTION:
        code = slots.get("correction_field")
        note = slots.get("correction_note")
        what: Any = Label(f"choice.correction_field.{code}") if code else None
        line("correction_field", Seq((what, note), " - ") if note else what)
        line("correction_value", slots.get("correction_value"))
    if rtype is RequestType.RESTRICTION:
        scopes = tuple(
            Label(f"choice.restriction_scope.{s}") for s in slots.get("restriction_scope", ())
        )
        other = slots.get("restriction_other")
        line("restriction_scope", Seq(scopes + ((other,) if other else ()), ", "))
    if rtype is not RequestType.CORRECTION:
        code = slots.get("reason_code")
        if code and code != "other":
            line("reason", Label(f"choice.deletion_reason.{code}"))
        elif slots.get("reason"):
            line("reason", slots["reason"])
        else:
            line("reason", Label("summary.no_reason"))
    if slots.get("id_proof"):
        line("id_proof", Label("summary.proof_attached"))
    else:
        line("id_proof", Label("summary.proof_later"))
    return Seq(tuple(lines))

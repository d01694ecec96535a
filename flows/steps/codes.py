"""Email codes: proving the customer owns an email address.

The dialogue never sees a code: the engine tells whether the typed one was
right (``CodeState.typed_ok``). What is decided here is what to say about
resends, waits, locks and wrong tries, and when a code must be sent first.
"""

from __future__ import annotations

from datetime import datetime

from flows.moves import advance, duplicate, fail
from flows.prompts import prompt
from flows.run import Run
from flows.steps.registry import handles
from flows.types import CodeAttempt, SendCode


def minutes_until(now: datetime, then: datetime) -> int:
    return max(1, -(-int((then - now).total_seconds()) // 60))


def check_code(run: Run, text: str, command: str | None, purpose: str, email: str) -> bool:
    """Handle one answer at a code step; True when the right code was typed."""
    code, now = run.ctx.code, run.ctx.now
    if (
        code is None
        or code.purpose != purpose
        or (code.email and code.email.casefold() != email.casefold())
    ):
        # No code on record for this step (e.g. after a restart of the flow):
        # send one now; the reply is the same as for a first send.
        run.effect(SendCode(purpose, email))
        prompt(run)
        return False
    if command == "resend":
        if code.locked_until and now < code.locked_until:
            fail(run, "hint.code_locked", minutes=minutes_until(now, code.locked_until))
        elif code.resends_left <= 0:
            fail(run, "hint.code_no_resends")
        elif now < code.next_resend_at:
            seconds = max(1, int((code.next_resend_at - now).total_seconds()) + 1)
            run.say("hint.code_wait", seconds=seconds)
        else:
            run.effect(SendCode(purpose, email, resend=True))
            run.say("code.resent")
        return False
    digits = "".join(text.split())
    if not (len(digits) == 6 and digits.isdigit()):
        fail(run, "hint.code_format")
        return False
    if code.locked_until and now < code.locked_until:
        run.say("hint.code_locked", minutes=minutes_until(now, code.locked_until))
        run.say("hint.offer_staff")
        return False
    if now >= code.expires_at:
        fail(run, "hint.code_expired", minutes=run.ctx.code_minutes)
        return False
    run.effect(CodeAttempt(bool(code.typed_ok)))
    if code.typed_ok:
        run.failures = 0
        return True
    left = code.attempts_left - 1
    if left <= 0:
        run.failures += 1
        run.say("hint.code_locked", minutes=run.ctx.code_lock_minutes)
        run.say("hint.offer_staff")
    else:
        fail(run, "hint.code_wrong", left=left)
    return False


@handles("email_code")
def on_email_code(run: Run, text: str, command: str | None) -> None:
    if check_code(run, text, command, "request", run.slots.get("email", "")):
        run.slots["email_verified"] = run.slots.get("email")
        run.say("code.verified")
        if not duplicate(run):
            advance(run)

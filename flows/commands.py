"""Commands that mean the same at every step (language, cancel, help, staff,
back, status, menu), and the check for a draft left idle too long."""

from __future__ import annotations

from datetime import timedelta

from flows.machine import fire
from flows.moves import back, cancel, discard_draft, escalate, leave_staff, reset
from flows.prompts import prompt
from flows.run import Run
from flows.states import PROOF_FOR, RESUME, STAFF, holds_draft, is_draft
from flows.types import Snapshot


def idle_draft(run: Run, snapshot: Snapshot, command: str | None) -> bool:
    """Offer to resume a draft left idle too long; discard one left far too long."""
    last = snapshot.last_activity
    if last is None or not holds_draft(run.state):
        return False
    idle = run.ctx.now - last
    if idle > timedelta(days=run.ctx.draft_expiry_days):
        discard_draft(run)
        fire(run, "reset")
        run.say("draft.expired", days=run.ctx.draft_expiry_days)
        return False
    if run.state == RESUME:
        return False  # already asking
    if idle > timedelta(hours=run.ctx.resume_after_hours) and command not in (
        "cancel",
        "lang_en",
        "lang_id",
        "staff",
    ):
        run.slots["_return"] = run.state
        fire(run, "pause")
        run.failures = 0
        prompt(run, since=last)
        return True
    return False


def global_command(run: Run, command: str) -> bool:
    """Carry out a command that means the same at every step; False for the
    rest (later / skip / keep only mean something at their step)."""
    if command in ("lang_en", "lang_id"):
        run.language = "en" if command == "lang_en" else "id"
        run.say("lang.switched")
        prompt(run)
        return True
    if command == "cancel":
        cancel(run)
        return True
    if command == "help":
        run.say(f"help.{run.step}")
        run.say("help.commands")
        return True
    if command == "staff":
        if run.state == STAFF:
            run.say("staff.still_waiting")
        else:
            escalate(run, "customer_request")
        return True
    if command == "back":
        back(run)
        return True
    if command == "status":  # e.g. Telegram's /status, shown in its command menu
        if is_draft(run.state):
            run.say("menu.in_draft")
            prompt(run)
        elif run.state in (STAFF, RESUME, PROOF_FOR):
            prompt(run)
        else:
            fire(run, "reset")
            fire(run, "ask_status")
            run.failures = 0
            prompt(run)
        return True
    if command in ("menu", "greeting"):
        if run.state == STAFF:
            if command == "menu":
                leave_staff(run)
            else:  # "halo" while waiting is a nudge, not a wish to leave
                run.say("staff.still_waiting")
        elif is_draft(run.state):
            run.say("menu.in_draft")
            prompt(run)
        elif run.state == RESUME:
            prompt(run)
        else:
            discard_draft(run)
            reset(run)
        return True
    return False  # later / skip / keep only mean something at their step

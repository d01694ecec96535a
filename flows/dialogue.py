"""The privacy-request dialogue: one state machine, built once, driven per message.

States are ``start``, ``menu``, ``status``, ``staff``, ``resume``,
``proof_for`` and, for every request type, ``<type>.<step>``. The
``transitions`` machine holds the legal moves and the step order (with
conditions for optional sub-steps and for returning to the summary while
editing). It is built once with no models attached; each message gets a
throw-away model object that the machine's events act on, because
attaching and detaching models per message costs ten times as much.

``Dialogue.step`` is pure: snapshot + inbound + context in, outcome out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from transitions import Machine, MachineError

from flows.types import (
    AttachmentInfo,
    AttachProof,
    Button,
    CancelRequest,
    CodeAttempt,
    Context,
    DiscardAttachments,
    Effect,
    Escalate,
    FileRequest,
    Inbound,
    KeepAttachment,
    KnownRequest,
    Label,
    Outcome,
    ProvideInfo,
    Reply,
    RequestType,
    SendCode,
    Seq,
    Snapshot,
)
from flows.validators import (
    clean_text,
    find_reference,
    parse_choices,
    parse_reference,
    validate_email_address,
    validate_name,
    validate_reason,
    validate_value,
)
from flows.vocabulary import Vocabulary

START, MENU, STATUS, STAFF, RESUME, PROOF_FOR = (
    "start",
    "menu",
    "status",
    "staff",
    "resume",
    "proof_for",
)
STATUS_EMAIL, STATUS_CODE = "status_email", "status_code"
CANCEL_CONFIRM = "cancel_confirm"
INFO = "info"  # staff asked for more about a request: messages and files go to it
GLOBAL_STATES = (
    INFO,
    START,
    MENU,
    STATUS,
    STAFF,
    RESUME,
    PROOF_FOR,
    STATUS_EMAIL,
    STATUS_CODE,
    CANCEL_CONFIRM,
)
OPEN_STATUSES = ("awaiting_id_proof", "verifying", "needs_info", "in_progress")
_CANCEL_REQUEST = re.compile(r"^(?:batalkan|batal|cancel)\s+(\S+)$", re.IGNORECASE)
# Messages in a row the bot cannot place (at the menu) before a person takes over.
UNPLACED_LIMIT = 2

# The steps of each request type, in order. Sub-steps are asked only when the
# answer to their parent needs more words.
STEPS: dict[RequestType, tuple[str, ...]] = {
    RequestType.DELETION: (
        "consequences",
        "full_name",
        "email",
        "email_code",
        "reason",
        "id_proof",
        "summary",
    ),
    RequestType.ACCESS: ("full_name", "email", "email_code", "reason", "id_proof", "summary"),
    RequestType.CORRECTION: (
        "full_name",
        "email",
        "email_code",
        "correction_field",
        "correction_value",
        "id_proof",
        "summary",
    ),
    RequestType.RESTRICTION: (
        "full_name",
        "email",
        "email_code",
        "restriction_scope",
        "reason",
        "id_proof",
        "summary",
    ),
}
SUBSTEPS: dict[RequestType, dict[str, tuple[str, str]]] = {
    # parent step -> (sub-step, condition on the model)
    RequestType.DELETION: {"reason": ("reason_other", "needs_reason_text")},
    RequestType.RESTRICTION: {"restriction_scope": ("restriction_other", "needs_scope_text")},
}
NOT_EDITABLE = {"consequences", "summary", "email_code"}
# A new email is always proved by its code, even when edited from the summary;
# and going back from the code step means changing the email.
NO_SHORTCUT_NEXT = {"email"}
NO_SHORTCUT_BACK = {"email_code"}

MAIN_OPTIONS = ("deletion", "access", "correction", "restriction", "status", "staff")
DELETION_REASONS = ("no_longer_used", "switching", "privacy", "business_closed", "other")
CORRECTION_FIELDS = ("name", "email", "phone", "business", "address", "other")
RESTRICTION_SCOPES = ("promotions", "recommendations", "analytics", "partners", "other")
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


def state_name(rtype: RequestType, step: str) -> str:
    return f"{rtype.value}.{step}"


def split_state(state: str) -> tuple[RequestType | None, str]:
    if "." in state:
        kind, step = state.split(".", 1)
        return RequestType(kind), step
    return None, state


def is_draft(state: str) -> bool:
    return "." in state


def asks_code(state: str) -> bool:
    """States whose answer may be an email code, which must never be kept in clear."""
    return state == STATUS_CODE or state.rpartition(".")[2] == "email_code"


def holds_draft(state: str) -> bool:
    """States whose slots keep a customer's unfinished request or its file."""
    return is_draft(state) or state in (PROOF_FOR, RESUME)


def draft_files(slots: dict[str, Any]) -> tuple[str, ...]:
    """Tokens of the files an unfinished request keeps."""
    tokens = []
    if slots.get("id_proof"):
        tokens.append(slots["id_proof"]["token"])
    if slots.get("proof_token"):
        tokens.append(slots["proof_token"])
    return tuple(tokens)


def _editable(rtype: RequestType) -> tuple[str, ...]:
    return tuple(s for s in STEPS[rtype] if s not in NOT_EDITABLE)


def _build_machine() -> Machine:
    states: list[str] = list(GLOBAL_STATES)
    machine_transitions: list[dict[str, Any]] = []

    def add(trigger: str, source: str | list[str], dest: str, **kw: Any) -> None:
        machine_transitions.append({"trigger": trigger, "source": source, "dest": dest, **kw})

    draft_states: list[str] = []
    for rtype, steps in STEPS.items():
        names = [state_name(rtype, s) for s in steps]
        subs = SUBSTEPS.get(rtype, {})
        all_names = names + [state_name(rtype, sub) for sub, _ in subs.values()]
        all_names.append(state_name(rtype, "edit"))
        states.extend(all_names)
        draft_states.extend(all_names)
        summary = state_name(rtype, "summary")

        add(f"start_{rtype.value}", [START, MENU], names[0])
        for i, step in enumerate(steps[:-1]):
            here, following = names[i], names[i + 1]
            if step in subs:
                sub, condition = subs[step]
                sub_state = state_name(rtype, sub)
                add("next", here, sub_state, conditions=[condition])
                add("next", sub_state, summary, conditions=["editing"])
                add("next", sub_state, following)
                add("back", sub_state, here)
            if step not in NO_SHORTCUT_NEXT:
                add("next", here, summary, conditions=["editing"])
            add("next", here, following)
            if step not in NO_SHORTCUT_BACK:
                add("back", here, summary, conditions=["editing"])
            if i > 0:
                add("back", here, names[i - 1])
        add("back", summary, names[-2])
        add("edit", summary, state_name(rtype, "edit"))
        add("back", state_name(rtype, "edit"), summary)
        for step in _editable(rtype):
            add(f"edit_{step}", state_name(rtype, "edit"), state_name(rtype, step))
        add("file", summary, MENU)
        if rtype is RequestType.DELETION:
            add("copy_first", names[0], state_name(RequestType.ACCESS, "full_name"))

    add(
        "cancel",
        [
            *draft_states,
            STATUS,
            STATUS_EMAIL,
            STATUS_CODE,
            CANCEL_CONFIRM,
            PROOF_FOR,
            RESUME,
            STAFF,
        ],
        MENU,
    )
    add("ask_status", [START, MENU], STATUS)
    add("verify_status", [START, MENU, STATUS], STATUS_EMAIL)
    add("next", STATUS_EMAIL, STATUS_CODE)
    add("back", STATUS_CODE, STATUS_EMAIL)
    add("done", [START, MENU, STATUS, PROOF_FOR, STATUS_EMAIL, STATUS_CODE, CANCEL_CONFIRM], MENU)
    add("confirm_cancel", [START, MENU], CANCEL_CONFIRM)
    add("done", INFO, MENU)
    add("choose_proof", [START, MENU], PROOF_FOR)
    add("escalate", [s for s in states if s != STAFF], STAFF)
    add("pause", [*draft_states, PROOF_FOR], RESUME)
    add("reset", states, MENU)
    return Machine(
        model=None,
        states=states,
        transitions=machine_transitions,
        initial=START,
        auto_transitions=False,
        send_event=False,
    )


class _Run:
    """The per-message model the machine acts on. Holds copies, never the snapshot."""

    def __init__(self, snapshot: Snapshot, ctx: Context) -> None:
        self.state = snapshot.state
        self.slots: dict[str, Any] = copy.deepcopy(snapshot.slots)
        self.language = snapshot.language
        self.failures = snapshot.failures
        self.unplaced_before = 0  # messages in a row the bot could not place, before this one
        self.ctx = ctx
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []

    # conditions used by the machine
    def editing(self) -> bool:
        return bool(self.slots.get("_editing"))

    def needs_reason_text(self) -> bool:
        return self.slots.get("reason_code") == "other" and not self.slots.get("reason")

    def needs_scope_text(self) -> bool:
        return "other" in self.slots.get("restriction_scope", ()) and not self.slots.get(
            "restriction_other"
        )

    def say(self, key: str, **params: Any) -> None:
        self.replies.append(Reply(key, params))

    def ask(self, key: str, buttons: tuple[Button, ...], **params: Any) -> None:
        self.replies.append(Reply(key, params, buttons))

    def effect(self, effect: Effect) -> None:
        self.effects.append(effect)

    @property
    def rtype(self) -> RequestType | None:
        return split_state(self.state)[0]

    @property
    def step(self) -> str:
        return split_state(self.state)[1]


class Dialogue:
    """The conversation logic. Build one at start and share it."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.machine = _build_machine()
        self.states: frozenset[str] = frozenset(self.machine.states)
        self.initial_state = START

    # public -------------------------------------------------------------

    def step(self, snapshot: Snapshot, inbound: Inbound, ctx: Context) -> Outcome:
        run = _Run(snapshot, ctx)
        if run.state not in self.states:
            # A state from an older release or a damaged row: start afresh
            # rather than trap the customer.
            run.state, run.slots = MENU, {}
            run.say("error.state_reset")
            self._reset(run)
            return self._outcome(run)
        self._handle(run, snapshot, inbound)
        if not run.replies:  # every message deserves an answer
            self._prompt(run)
        return self._outcome(run)

    @staticmethod
    def _outcome(run: _Run) -> Outcome:
        return Outcome(
            state=run.state,
            slots=run.slots,
            language=run.language,
            failures=run.failures,
            replies=run.replies,
            effects=run.effects,
        )

    def expects_file(self, state: str, requests: tuple[KnownRequest, ...]) -> bool:
        """Whether a file sent now would be used, so channels fetch only those."""
        if split_state(state)[1] == "id_proof":
            return True
        return state in (START, MENU) and any(r.status == "awaiting_id_proof" for r in requests)

    def prompt(self, snapshot: Snapshot, ctx: Context) -> list[Reply]:
        """The question the conversation is waiting on, e.g. after a language change."""
        run = _Run(snapshot, ctx)
        self._prompt(run)
        return run.replies

    # driver -------------------------------------------------------------

    def _handle(self, run: _Run, snapshot: Snapshot, inbound: Inbound) -> None:
        text = clean_text(inbound.text) if not inbound.oversized else ""
        command = self.vocabulary.command(text) if text else None
        run.unplaced_before = int(run.slots.pop("_unplaced", 0))
        notice = run.slots.pop("_notice", None)
        if notice == "draft.expired":  # left by the sweep of abandoned drafts
            run.say("draft.expired", days=run.ctx.draft_expiry_days)

        if self._idle_draft(run, snapshot, command):
            return
        if inbound.oversized:
            self._fail(run, "hint.too_long", limit=run.ctx.max_text_length)
            return
        if not text and not inbound.attachments:
            run.say("hint.empty")
            self._prompt(run)
            return
        if inbound.expected_state is not None and inbound.expected_state != run.state:
            run.say("button.stale")
            self._prompt(run)
            return
        if command and self._global_command(run, command):
            return
        if inbound.attachments:
            handled = self._attachments(run, inbound.attachments, bool(text))
            if handled or not text:
                if not handled:
                    self._prompt(run)
                return
        self._text(run, text, command)

    def _idle_draft(self, run: _Run, snapshot: Snapshot, command: str | None) -> bool:
        """Offer to resume a draft left idle too long; discard one left far too long."""
        last = snapshot.last_activity
        if last is None or not holds_draft(run.state):
            return False
        idle = run.ctx.now - last
        if idle > timedelta(days=run.ctx.draft_expiry_days):
            self._discard_draft(run)
            self._fire(run, "reset")
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
            self._fire(run, "pause")
            run.failures = 0
            self._prompt(run, since=last)
            return True
        return False

    def _global_command(self, run: _Run, command: str) -> bool:
        if command in ("lang_en", "lang_id"):
            run.language = "en" if command == "lang_en" else "id"
            run.say("lang.switched")
            self._prompt(run)
            return True
        if command == "cancel":
            self._cancel(run)
            return True
        if command == "help":
            run.say(f"help.{run.step}")
            run.say("help.commands")
            return True
        if command == "staff":
            if run.state == STAFF:
                run.say("staff.still_waiting")
            else:
                self._escalate(run, "customer_request")
            return True
        if command == "back":
            self._back(run)
            return True
        if command == "status":  # e.g. Telegram's /status, shown in its command menu
            if is_draft(run.state):
                run.say("menu.in_draft")
                self._prompt(run)
            elif run.state in (STAFF, RESUME, PROOF_FOR):
                self._prompt(run)
            else:
                self._fire(run, "reset")
                self._fire(run, "ask_status")
                run.failures = 0
                self._prompt(run)
            return True
        if command in ("menu", "greeting"):
            if run.state == STAFF:
                if command == "menu":
                    self._leave_staff(run)
                else:  # "halo" while waiting is a nudge, not a wish to leave
                    run.say("staff.still_waiting")
            elif is_draft(run.state):
                run.say("menu.in_draft")
                self._prompt(run)
            elif run.state == RESUME:
                self._prompt(run)
            else:
                self._discard_draft(run)
                self._reset(run)
            return True
        return False  # later / skip / keep only mean something at their step

    # commands -----------------------------------------------------------

    def _cancel(self, run: _Run) -> None:
        had_draft = holds_draft(run.state) or (
            run.state == STAFF and bool(run.slots.get("_return"))
        )
        run.say("cancel.done" if had_draft else "cancel.nothing")
        self._discard_draft(run)
        self._reset(run)

    def _reset(self, run: _Run) -> None:
        """Back to the main menu with nothing pending."""
        greet = run.state == START
        self._fire(run, "reset")
        run.slots = {}
        run.failures = 0
        run.ask("menu.welcome" if greet else "menu.prompt", MENU_BUTTONS)

    def _back(self, run: _Run) -> None:
        if run.state == STAFF:
            self._leave_staff(run)
        elif run.state == RESUME:
            self._restore(run)
        elif run.state == STATUS_CODE and self._fire(run, "back"):
            run.failures = 0
            self._prompt(run)
        elif is_draft(run.state) and self._fire(run, "back"):
            if run.step == "summary":
                run.slots.pop("_editing", None)
            run.failures = 0
            self._prompt(run)
        elif is_draft(run.state):
            self._cancel(run)  # back from the first step leaves the request
        else:
            self._discard_draft(run)
            self._reset(run)

    def _escalate(self, run: _Run, reason: str) -> None:
        if is_draft(run.state) or run.state == PROOF_FOR:
            run.slots["_return"] = run.state
        elif run.state == RESUME:
            pass  # keep the pending _return
        else:
            run.slots.pop("_return", None)
        self._fire(run, "escalate")
        run.failures = 0
        run.slots.pop("_unplaced", None)
        run.effect(Escalate(reason))
        run.say("staff.waiting" if reason == "customer_request" else "staff.handover")
        if run.ctx.staff_opens_at is not None:
            run.say("staff.after_hours", opens=run.ctx.staff_opens_at)

    def _leave_staff(self, run: _Run) -> None:
        run.say("staff.back_to_bot")
        if run.slots.get("_return"):
            self._restore(run)
        else:
            self._reset(run)

    def _restore(self, run: _Run) -> None:
        target = run.slots.pop("_return", None)
        if not target or target not in self.states:
            self._reset(run)
            return
        self.machine.set_state(target, model=run)
        run.failures = 0
        self._prompt(run)

    def _discard_draft(self, run: _Run) -> None:
        tokens = draft_files(run.slots)
        if tokens:
            run.effect(DiscardAttachments(tokens))
        run.slots = {}

    # attachments --------------------------------------------------------

    def _attachments(
        self, run: _Run, attachments: tuple[AttachmentInfo, ...], text_follows: bool
    ) -> bool:
        """True when the files answered the message; False when they were only
        acknowledged and any text should still be read."""
        if run.state == INFO and self._info_wanted(run, run.slots.get("info_ref", "")):
            good = next((a for a in attachments if a.problem is None), None)
            if good is None:
                self._fail(run, f"hint.file_{attachments[0].problem}", limit_mb=_mb(run.ctx))
                return True
            run.effect(KeepAttachment(good.token))
            run.effect(ProvideInfo(run.slots["info_ref"], "", good.token))
            run.say("info.received", reference=run.slots["info_ref"])
            return True
        if run.step == "id_proof":
            first = attachments[0]
            good = next((a for a in attachments if a.problem is None), None)
            if good is None:
                self._fail(run, f"hint.file_{first.problem}", limit_mb=_mb(run.ctx))
                return True
            old = run.slots.get("id_proof")
            if old:
                run.effect(DiscardAttachments((old["token"],)))
            run.effect(KeepAttachment(good.token))
            run.slots["id_proof"] = {
                "token": good.token,
                "media_type": good.media_type,
                "size": good.size,
                "sha256": good.sha256,
            }
            run.slots.pop("id_later", None)
            run.say("proof.received")
            self._advance(run)
            return True
        if run.state in (START, MENU):
            waiting = [r for r in run.ctx.requests if r.status == "awaiting_id_proof"]
            if waiting:
                good = next((a for a in attachments if a.problem is None), None)
                if good is None:
                    self._fail(run, f"hint.file_{attachments[0].problem}", limit_mb=_mb(run.ctx))
                    return True
                if len(waiting) == 1:
                    run.effect(AttachProof(waiting[0].reference, good.token))
                    run.say("proof.attached_to", reference=waiting[0].reference)
                    return True
                run.effect(KeepAttachment(good.token))
                run.slots = {"proof_token": good.token}
                self._fire(run, "choose_proof")
                self._prompt(run)
                return True
        run.say("file.ignored")
        if not text_follows and run.state in (START, MENU):
            return self._unplaced(run)
        return False

    # text ---------------------------------------------------------------

    def _text(self, run: _Run, text: str, command: str | None) -> None:
        handler: Callable[[_Run, str, str | None], None] = getattr(
            self, f"_on_{run.step}", None
        ) or (lambda r, t, c: self._prompt(r))
        handler(run, text, command)

    def _on_start(self, run: _Run, text: str, command: str | None) -> None:
        self._on_menu(run, text, command)

    def _on_menu(self, run: _Run, text: str, command: str | None) -> None:
        match = _CANCEL_REQUEST.match(text.strip())
        if match and parse_reference(match.group(1)):
            self._ask_cancel(run, parse_reference(match.group(1)) or "")
            return
        reference = parse_reference(text)
        if reference is None and self.vocabulary.mentions("main", "status", text):
            reference = find_reference(text)  # "status DEL-7K3M9Q": both at once
        if reference:
            self._answer_status(run, reference)
            return
        choice = self.vocabulary.choose("main", text, MAIN_OPTIONS)
        if choice is None:
            if run.state == START:
                run.state = MENU
                run.ask("menu.welcome", MENU_BUTTONS)
                return
            if not self._unplaced(run) and not self._fail(run, "menu.unclear"):
                run.ask("menu.prompt", MENU_BUTTONS)
            return
        run.failures = 0
        if choice == "staff":
            self._escalate(run, "customer_request")
        elif choice == "status":
            self._fire(run, "ask_status")
            self._prompt(run)
        else:
            rtype = RequestType(choice)
            self._begin(run, rtype, f"start_{rtype.value}")

    def _on_status(self, run: _Run, text: str, command: str | None) -> None:
        reference = parse_reference(text) or find_reference(text)
        if reference is None:
            self._fail(run, "hint.reference")
            return
        self._answer_status(run, reference)

    def _answer_status(self, run: _Run, reference: str) -> None:
        """Status of a request filed from this address; for any other reference
        (existing or not: the answer must not tell) ask for proof by email."""
        run.failures = 0
        known = next((r for r in run.ctx.requests if r.reference == reference), None)
        if known is None:
            self._fire(run, "verify_status")
            run.slots = {"status_ref": reference}
            self._prompt(run)
            return
        self._say_status(run, known)
        if run.state == STATUS:
            self._fire(run, "done")
            run.slots = {}

    def _say_status(self, run: _Run, known: KnownRequest) -> None:
        run.say("status.answer", **_about(known))

    def _on_status_email(self, run: _Run, text: str, command: str | None) -> None:
        email, hint = validate_email_address(text)
        if email is None:
            self._fail(run, hint or "hint.email")
            return
        run.slots["status_email"] = email
        run.effect(SendCode(f"status:{run.slots['status_ref']}", email))
        self._fire(run, "next")
        run.failures = 0
        self._prompt(run)

    def _on_status_code(self, run: _Run, text: str, command: str | None) -> None:
        purpose = f"status:{run.slots.get('status_ref')}"
        if not self._check_code(run, text, command, purpose, run.slots.get("status_email", "")):
            return
        verified = run.ctx.verified_request
        if verified is not None and verified.reference == run.slots.get("status_ref"):
            self._say_status(run, verified)
        else:  # cannot happen with a correct code; answer as for any unknown request
            run.say("status.unknown", reference=run.slots.get("status_ref"))
        self._fire(run, "done")
        run.slots = {}

    def _on_email_code(self, run: _Run, text: str, command: str | None) -> None:
        if self._check_code(run, text, command, "request", run.slots.get("email", "")):
            run.slots["email_verified"] = run.slots.get("email")
            run.say("code.verified")
            if not self._duplicate(run):
                self._advance(run)

    def _check_code(
        self, run: _Run, text: str, command: str | None, purpose: str, email: str
    ) -> bool:
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
            self._prompt(run)
            return False
        if command == "resend":
            if code.locked_until and now < code.locked_until:
                self._fail(run, "hint.code_locked", minutes=_minutes_until(now, code.locked_until))
            elif code.resends_left <= 0:
                self._fail(run, "hint.code_no_resends")
            elif now < code.next_resend_at:
                seconds = max(1, int((code.next_resend_at - now).total_seconds()) + 1)
                run.say("hint.code_wait", seconds=seconds)
            else:
                run.effect(SendCode(purpose, email, resend=True))
                run.say("code.resent")
            return False
        digits = "".join(text.split())
        if not (len(digits) == 6 and digits.isdigit()):
            self._fail(run, "hint.code_format")
            return False
        if code.locked_until and now < code.locked_until:
            run.say("hint.code_locked", minutes=_minutes_until(now, code.locked_until))
            run.say("hint.offer_staff")
            return False
        if now >= code.expires_at:
            self._fail(run, "hint.code_expired", minutes=run.ctx.code_minutes)
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
            self._fail(run, "hint.code_wrong", left=left)
        return False

    def _ask_cancel(self, run: _Run, reference: str) -> None:
        """A customer cancelling a filed request: only their own, open, and only
        after saying yes. Any other reference gets the same 'not possible'."""
        run.failures = 0
        own = next((r for r in run.ctx.requests if r.reference == reference), None)
        if own is None or own.status not in OPEN_STATUSES:
            run.say("cancel_request.not_possible", reference=reference)
            return
        self._fire(run, "confirm_cancel")
        run.slots = {"cancel_ref": reference}
        self._prompt(run)

    def _on_cancel_confirm(self, run: _Run, text: str, command: str | None) -> None:
        choice = self.vocabulary.choose("yes_no", text, ("yes", "no"))
        reference = run.slots.get("cancel_ref", "")
        if choice == "yes":
            run.effect(CancelRequest(reference))
            run.say("cancel_request.done", reference=reference)
        elif choice == "no":
            run.say("cancel_request.kept", reference=reference)
        else:
            self._fail(run, "hint.choose_number", count=2)
            return
        self._fire(run, "done")
        run.slots = {}
        run.failures = 0

    def _on_info(self, run: _Run, text: str, command: str | None) -> None:
        reference = run.slots.get("info_ref", "")
        if not self._info_wanted(run, reference):
            self._reset(run)  # the request moved on; the message is read as usual
            self._text(run, text, command)
            return
        run.effect(ProvideInfo(reference, text, None))
        run.say("info.received", reference=reference)

    def _info_wanted(self, run: _Run, reference: str) -> bool:
        return any(r.reference == reference and r.status == "needs_info" for r in run.ctx.requests)

    def _on_staff(self, run: _Run, text: str, command: str | None) -> None:
        run.say("staff.still_waiting")

    def _on_resume(self, run: _Run, text: str, command: str | None) -> None:
        choice = self.vocabulary.choose("resume", text, ("continue", "restart"))
        if choice == "continue":
            self._restore(run)
        elif choice == "restart":
            run.say("draft.restarted")
            self._discard_draft(run)
            self._reset(run)
        else:
            self._fail(run, "hint.choose_number", count=2)

    def _on_proof_for(self, run: _Run, text: str, command: str | None) -> None:
        waiting = [r for r in run.ctx.requests if r.status == "awaiting_id_proof"]
        numbers = parse_choices(text, len(waiting))
        reference = parse_reference(text)
        target = None
        if numbers and len(numbers) == 1:
            target = waiting[numbers[0] - 1].reference
        elif reference and any(r.reference == reference for r in waiting):
            target = reference
        if target is None:
            self._fail(run, "hint.choose_number", count=len(waiting))
            return
        run.effect(AttachProof(target, run.slots["proof_token"]))
        run.say("proof.attached_to", reference=target)
        self._fire(run, "done")
        run.slots = {}
        run.failures = 0

    def _on_consequences(self, run: _Run, text: str, command: str | None) -> None:
        choice = self.vocabulary.choose("consequences", text, ("continue", "copy_first", "menu"))
        if choice == "continue":
            self._advance(run)
        elif choice == "copy_first":
            self._begin(run, RequestType.ACCESS, "copy_first")
        elif choice == "menu":
            self._cancel(run)
        else:
            self._fail(run, "hint.choose_number", count=3)

    def _on_full_name(self, run: _Run, text: str, command: str | None) -> None:
        self._store(run, "full_name", *validate_name(text))

    def _on_email(self, run: _Run, text: str, command: str | None) -> None:
        email, hint = validate_email_address(text)
        if email is not None:
            run.slots.pop("email_verified", None)
            run.effect(SendCode("request", email))
        self._store(run, "email", email, hint)

    def _on_reason(self, run: _Run, text: str, command: str | None) -> None:
        rtype = run.rtype
        if rtype is RequestType.DELETION:
            numbers = parse_choices(text, len(DELETION_REASONS))
            if numbers is not None and len(numbers) == 1:
                run.slots["reason_code"] = DELETION_REASONS[numbers[0] - 1]
                run.slots["reason"] = None
                self._advance(run)
                return
            if numbers is not None or text.strip().isdigit():
                self._fail(run, "hint.choose_number", count=len(DELETION_REASONS))
                return
            value, hint = validate_reason(text)
            if value is not None:
                run.slots["reason_code"] = "other"
            self._store(run, "reason", value, hint)
            return
        if rtype is RequestType.ACCESS and command == "skip":
            run.slots["reason"] = None
            run.slots["reason_skipped"] = True
            self._advance(run)
            return
        self._store(run, "reason", *validate_reason(text))

    def _on_reason_other(self, run: _Run, text: str, command: str | None) -> None:
        self._store(run, "reason", *validate_reason(text))

    def _on_correction_field(self, run: _Run, text: str, command: str | None) -> None:
        numbers = parse_choices(text, len(CORRECTION_FIELDS))
        if numbers is not None and len(numbers) == 1:
            run.slots["correction_field"] = CORRECTION_FIELDS[numbers[0] - 1]
            run.slots["correction_note"] = None
            self._advance(run)
            return
        if text.strip().isdigit():
            self._fail(run, "hint.choose_number", count=len(CORRECTION_FIELDS))
            return
        choice = self.vocabulary.choose("correction_field", text, CORRECTION_FIELDS)
        value, hint = validate_reason(text)
        if choice is None and value is None:
            self._fail(run, hint or "hint.choose_number", count=len(CORRECTION_FIELDS))
            return
        run.slots["correction_field"] = choice or "other"
        # Keep what the customer wrote when it says more than the option's name.
        run.slots["correction_note"] = value if len(text.split()) > 2 else None
        self._advance(run)

    def _on_correction_value(self, run: _Run, text: str, command: str | None) -> None:
        self._store(run, "correction_value", *validate_value(text))

    def _on_restriction_scope(self, run: _Run, text: str, command: str | None) -> None:
        numbers = parse_choices(text, len(RESTRICTION_SCOPES))
        if numbers is not None:
            scopes = [RESTRICTION_SCOPES[n - 1] for n in numbers]
        else:
            scopes = [
                option
                for option in RESTRICTION_SCOPES
                if self.vocabulary.choose("restriction_scope", text, (option,))
            ]
        if not scopes:
            self._fail(run, "hint.restriction_scope", count=len(RESTRICTION_SCOPES))
            return
        run.slots["restriction_scope"] = scopes
        if "other" not in scopes:
            run.slots["restriction_other"] = None
        self._advance(run)

    def _on_restriction_other(self, run: _Run, text: str, command: str | None) -> None:
        self._store(run, "restriction_other", *validate_reason(text))

    def _on_id_proof(self, run: _Run, text: str, command: str | None) -> None:
        if command == "later":
            old = run.slots.pop("id_proof", None)
            if old:
                run.effect(DiscardAttachments((old["token"],)))
            run.slots["id_later"] = True
            run.say("proof.later")
            self._advance(run)
        elif command == "keep" and (run.slots.get("id_proof") or run.slots.get("id_later")):
            self._advance(run)
        else:
            self._fail(run, "hint.id_proof", limit_mb=_mb(run.ctx))

    def _on_summary(self, run: _Run, text: str, command: str | None) -> None:
        choice = self.vocabulary.choose("summary", text, ("confirm", "edit", "cancel"))
        if choice == "confirm":
            self._file(run)
        elif choice == "edit":
            self._fire(run, "edit")
            run.failures = 0
            self._prompt(run)
        elif choice == "cancel":
            self._cancel(run)
        else:
            self._fail(run, "hint.choose_number", count=3)

    def _on_edit(self, run: _Run, text: str, command: str | None) -> None:
        rtype = run.rtype
        assert rtype is not None
        fields = _editable(rtype)
        choice = self.vocabulary.choose("edit", text, fields)
        if choice is None:
            self._fail(run, "hint.choose_number", count=len(fields))
            return
        self._fire(run, f"edit_{choice}")
        run.slots["_editing"] = True
        run.failures = 0
        self._prompt(run)

    # helpers ------------------------------------------------------------

    def _begin(self, run: _Run, rtype: RequestType, trigger: str) -> None:
        """Start a fresh draft of ``rtype``; deletion opens with its consequences."""
        self._fire(run, trigger)
        run.slots = {"type": rtype.value, "_started": run.ctx.now.isoformat()}
        run.failures = 0
        if rtype is not RequestType.DELETION:
            run.say(f"intro.{rtype.value}")
        self._prompt(run)

    def _store(self, run: _Run, slot: str, value: Any, hint: str | None) -> None:
        if hint is not None:
            self._fail(run, hint)
            return
        run.slots[slot] = value
        self._advance(run)

    def _advance(self, run: _Run) -> None:
        self._fire(run, "next")
        if run.step == "summary":
            run.slots.pop("_editing", None)
        run.failures = 0
        self._prompt(run)

    def _fail(self, run: _Run, hint: str, **params: Any) -> bool:
        """A failed answer at this step. After ``max_failures`` of them a person
        takes over (True). Code steps only offer staff: they have their own
        limit (wrong tries, then a lock) that a hand-over must not bypass."""
        run.failures += 1
        run.say(hint, **params)
        if run.failures < run.ctx.max_failures or run.state == STAFF:
            return False
        if hint.rpartition(".")[2].startswith("code_") or run.state == STATUS_CODE:
            run.say("hint.offer_staff")
            return False
        self._escalate(run, "failed_answers")
        return True

    def _unplaced(self, run: _Run) -> bool:
        """A message the bot could not place at all; the second in a row goes
        to a person (True)."""
        count = run.unplaced_before + 1
        if count >= UNPLACED_LIMIT:
            self._escalate(run, "unplaced")
            return True
        run.slots["_unplaced"] = count
        return False

    def _fire(self, run: _Run, trigger: str) -> bool:
        """Apply one of the machine's events to this message's model."""
        try:
            return bool(self.machine.events[trigger].trigger(run))
        except (KeyError, MachineError):
            return False

    def _duplicate(self, run: _Run) -> bool:
        """An open request of this type for the verified email means no second
        one: point the customer to it and end the draft."""
        open_one = next((r for r in run.ctx.open_same_email if r.type is run.rtype), None)
        if open_one is None:
            return False
        run.say("duplicate.open", **_about(open_one))
        self._discard_draft(run)
        self._reset(run)
        return True

    def _file(self, run: _Run) -> None:
        rtype = run.rtype
        assert rtype is not None
        if self._duplicate(run):
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
        self._fire(run, "file")
        run.slots = {}
        run.failures = 0
        run.say(
            "filed.ack",
            reference=reference,
            type=Label(f"type.{rtype.value}"),
            due_date=due,
        )
        run.say("filed.proof_received" if proof else "filed.proof_later", reference=reference)

    # prompts ------------------------------------------------------------

    def _prompt(self, run: _Run, since: Any = None) -> None:
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
                _numbered("button.yes_no", ("yes", "no")),
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
                _numbered("button.resume", ("continue", "restart")),
                type=Label(f"type.{kind.value}") if kind else Label("type.proof"),
                since=since or run.ctx.now,
            )
        elif run.state == PROOF_FOR:
            waiting = [r for r in run.ctx.requests if r.status == "awaiting_id_proof"]
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
                buttons = _numbered("choice.deletion_reason", DELETION_REASONS)
            elif rtype is RequestType.ACCESS:
                buttons = (Button(Label("button.skip"), "lewati"),)
            else:
                buttons = ()
            run.ask(f"prompt.reason.{rtype.value}", buttons)
        elif rtype is not None and step == "summary":
            run.ask(
                "summary",
                _numbered("button.summary", ("confirm", "edit", "cancel")),
                type=Label(f"type.{rtype.value}"),
                fields=self._summary(run),
            )
        elif rtype is not None and step == "edit":
            fields = _editable(rtype)
            items = tuple(
                Reply("list.item", {"n": i, "label": Label(f"field.{f}")})
                for i, f in enumerate(fields, 1)
            )
            run.ask("prompt.edit", _numbered("field", fields), fields=Seq(items))
        elif step == "id_proof":
            later = Button(Label("button.later"), "nanti")
            if run.slots.get("id_proof"):
                run.say("prompt.id_proof", limit_mb=_mb(run.ctx))
                run.ask("prompt.id_proof_have", (Button(Label("button.keep"), "lanjut"), later))
            else:
                run.ask("prompt.id_proof", (later,), limit_mb=_mb(run.ctx))
        elif step == "consequences":
            run.ask(
                "prompt.consequences",
                _numbered("button.consequences", ("continue", "copy_first", "menu")),
            )
        elif step == "correction_field":
            run.ask(
                "prompt.correction_field", _numbered("choice.correction_field", CORRECTION_FIELDS)
            )
        elif step == "restriction_scope":
            # Several may be chosen by typing "1, 3"; a button picks one.
            run.ask(
                "prompt.restriction_scope",
                _numbered("choice.restriction_scope", RESTRICTION_SCOPES),
            )
        else:
            run.say(f"prompt.{step}")

    def _summary(self, run: _Run) -> Seq:
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


def _about(known: KnownRequest) -> dict[str, Any]:
    """What a reply tells of a request: reference, type, status, due date."""
    return {
        "reference": known.reference,
        "type": Label(f"type.{known.type.value}"),
        "status": Label(f"request_status.{known.status}"),
        "due_date": known.due_date,
    }


def _numbered(prefix: str, options: tuple[str, ...]) -> tuple[Button, ...]:
    """Buttons for a numbered list: each sends its number, as a typed answer would."""
    return tuple(Button(Label(f"{prefix}.{o}"), str(i)) for i, o in enumerate(options, 1))


MENU_BUTTONS = _numbered("button.main", MAIN_OPTIONS)
RESEND_BUTTON = Button(Label("button.resend"), "kirim ulang")


def _minutes_until(now: datetime, then: datetime) -> int:
    return max(1, -(-int((then - now).total_seconds()) // 60))


def _mb(ctx: Context) -> int:
    return ctx.max_attachment_bytes // (1024 * 1024)

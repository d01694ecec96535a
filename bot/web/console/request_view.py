"""What the console's request page shows, worked out from the stores' records:
the ID proofs with their views, the notifications with their delivery state,
and the lifecycle actions possible now, grouped by what they do.

The actions come from ``MOVES`` alone (``bot.requests.lifecycle``): a status or
an action added there shows up here without a change, its fields read from the
use case's own parameters (``bot.requests.actions``). Nothing here writes; the
routes in ``bot.web.console.requests`` do.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from bot.domain.models import NotificationState, RequestRecord
from bot.requests import actions
from bot.requests.lifecycle import MOVES
from bot.requests.retention import VIEW_REASONS
from bot.staff.chats import CHAT_VIEW
from bot.web.console.words import Words
from flows.types import RequestStatus, RequestType

S = RequestStatus
# The three groups of actions, in the order the page shows them.
GROUPS = ("forward", "wait", "end")
# What staff write that the customer reads (in the customer's language):
# the message of ``ask``, the reason of ``reject`` and ``delay``.
CUSTOMER_READS = {("ask", "message"), ("reject", "reason"), ("delay", "reason")}
# Media types shown in the page as they are; any other file is downloaded.
INLINE_IMAGES = {"image/jpeg", "image/png", "image/webp"}
# A file's extension for its download name, by media type.
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}
# The use case's parameters a form may fill (anything else is the door's own).
_FORM_FIELDS = ("message", "reason", "until")


@dataclass(frozen=True)
class FormField:
    """One input of an action's form. ``kind`` is textarea, text, date or
    files; ``customer_reads``: the customer gets these words, in their
    language; ``value`` is what staff typed before a refusal."""

    name: str
    kind: str
    required: bool
    customer_reads: bool
    value: str = ""


@dataclass(frozen=True)
class ActionForm:
    """One action's form. ``look`` is the button's role (primary, secondary,
    danger); ``confirm``: it ends the request, so it asks in a dialog first,
    saying what will happen (``consequence``, a catalogue key)."""

    action: str
    group: str
    look: str
    label: str
    confirm: bool
    consequence: str
    fields: tuple[FormField, ...]
    multipart: bool
    earliest: str
    latest: str
    refused: bool = False


@dataclass(frozen=True)
class ProofFile:
    """One ID proof as listed: ``number`` from 1 in the order received;
    ``shown`` when this page may show it (a view was just recorded)."""

    number: int
    sort: str  # image, pdf or other
    received: str
    size_kb: int
    deleted: str  # when and why it was deleted, in words ("" while stored)
    views: tuple[tuple[str, str, str], ...]  # (who, when, why) in words
    shown: bool = False
    url: str = ""


@dataclass(frozen=True)
class NoticeRow:
    """One notification of the request as staff read it."""

    id: int
    what: str
    channel: str
    state: str  # queued, waiting_customer, retrying, sent, delivered, read, failed
    look: str
    at: str
    problem: str  # why it failed, in words ("" when it did not)
    retry: bool  # failed, and not retried yet
    followed: str = ""  # the route it went on by after failing, in words


@dataclass
class Typed:
    """What a refused form sent, to show it again: the action (or proof
    number) and its fields."""

    target: str = ""
    values: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why it was refused, shown in the form too (a dialog hides the top)


def form_params(action: str) -> dict[str, bool]:
    """The form fields of an action, from its use case's signature: each of
    ``message``, ``reason``, ``until`` it takes, and whether it must be given."""
    use_case = getattr(actions, action, None)
    if use_case is None:
        return {}
    found = {}
    for name, param in inspect.signature(use_case).parameters.items():
        if name in _FORM_FIELDS:
            # Required: no default, or a keyword without one (None means "not given").
            found[name] = param.default is inspect.Parameter.empty
    return found


def group_of(target: RequestStatus | None) -> str:
    """Where an action leads: on with the work, waiting (asking, a later
    date), or the end of the request."""
    if target in (S.REJECTED, S.CANCELLED):
        return "end"
    if target is None or target is S.NEEDS_INFO:
        return "wait"
    return "forward"


def action_forms(
    record: RequestRecord, words: Words, window: tuple[date, date], typed: Typed | None = None
) -> list[ActionForm]:
    """The actions possible from the request's status, grouped and styled by
    what they do; an action that ends the request asks first, and one that
    cannot be undone (a deletion completed, a rejection, a cancellation)
    looks like danger."""
    forms = []
    for action, (sources, target) in MOVES.items():
        if record.status not in sources:
            continue
        ends = target is not None and not target.is_open
        danger = target in (S.REJECTED, S.CANCELLED) or (
            action == "complete" and record.type is RequestType.DELETION
        )
        group = group_of(target)
        look = "danger" if danger else "primary" if group == "forward" else "secondary"
        refused = typed is not None and typed.target == action
        values = typed.values if typed is not None and refused else {}
        fields = []
        for name, required in form_params(action).items():
            kind = "date" if name == "until" else "textarea" if name == "message" else "text"
            if name == "reason" and (action, name) in CUSTOMER_READS:
                kind = "textarea"
            reads = (action, name) in CUSTOMER_READS
            fields.append(FormField(name, kind, required, reads, values.get(name, "")))
        # An access request is completed with its data copy from the back office.
        multipart = action == "complete" and record.type is RequestType.ACCESS
        if multipart:
            fields.append(FormField("export", "files", True, False))
        consequence = f"request.consequence.{action}"
        if action == "complete":
            consequence = f"request.consequence.complete_{record.type.value}"
        if not words.has(f"console.{consequence}"):
            consequence = "request.consequence.ends" if ends else "request.consequence.other"
        label = words.t(f"do.{action}") if words.has(f"console.do.{action}") else ""
        earliest = latest = ""
        if "until" in form_params(action):
            earliest, latest = window[0].isoformat(), window[1].isoformat()
        forms.append(
            ActionForm(
                action=action,
                group=group,
                look=look,
                label=label or words.t("request.do_other"),
                confirm=ends,
                consequence=consequence,
                fields=tuple(fields),
                multipart=multipart,
                earliest=earliest,
                latest=latest,
                refused=refused,
            )
        )
    return forms


def grouped(forms: list[ActionForm]) -> list[tuple[str, list[ActionForm]]]:
    """The forms by group, in the page's order, empty groups left out."""
    return [
        (g, [f for f in forms if f.group == g]) for g in GROUPS if any(f.group == g for f in forms)
    ]


def sort_of(media_type: str) -> str:
    return "image" if media_type.startswith("image/") else "pdf" if "pdf" in media_type else "other"


def proof_files(
    record: RequestRecord, words: Words, reader: str, shown: Mapping[int, str]
) -> list[ProofFile]:
    """Every ID proof the request has had, stored or deleted (with the
    customer, or after its retention), each with who looked at it, when and
    why. ``shown``: number -> the signed URL of a file whose look was just
    recorded."""
    attachments = record.attachments
    gone = "request.proof_forgotten" if record.forgotten else "request.proof_deleted"
    files = []
    for number, a in enumerate(attachments, 1):
        views = tuple(
            (
                words.actor(f"staff:{v.viewer}", reader)
                if v.purpose == "console"
                else words.t("request.seen_in_chat", who=words.actor(f"staff:{v.viewer}", reader))
                if v.purpose == CHAT_VIEW
                else f"{v.viewer} · {words.actor(v.purpose)}",
                words.when(v.at),
                view_reason_words(words, v.reason),
            )
            for v in a.views
        )
        url = shown.get(number, "") if a.deleted_at is None else ""
        files.append(
            ProofFile(
                number=number,
                sort=sort_of(a.media_type),
                received=words.when(a.created_at),
                size_kb=max(1, round(a.size / 1024)),
                deleted=words.t(gone, at=words.when(a.deleted_at)) if a.deleted_at else "",
                views=views,
                shown=bool(url),
                url=url,
            )
        )
    return files


def view_reason_words(words: Words, reason: str) -> str:
    """A recorded reason in words: a code of the list by its label, typed
    words as typed, none as "no reason recorded"."""
    if reason in VIEW_REASONS:
        return words.t(f"request.view_reason.{reason}")
    return reason or words.t("request.view_reason.none")


def notice_rows(
    notices: list[NotificationState], words: Words, channel_words: Mapping[str, str]
) -> list[NoticeRow]:
    """The request's notifications with their state in words: queued (or
    waiting for a terminal customer to open the chat), being retried, sent,
    delivered or read, failed (and why). A failed one may be retried, once
    per failure; one that went on by another route says which."""
    keys = {n.key for n in notices}
    rows = []
    for n in notices:
        state, look, problem = _state(n)
        followed = ""
        if state == "failed":
            onward = [m for m in notices if m.key.startswith(n.key + ">")]
            if onward:
                followed = channel_words.get(onward[0].channel, words.t("route.other"))
        rows.append(
            NoticeRow(
                id=n.id,
                what=_label(words, f"console.notice_kind.{n.kind}") or words.t("notice_kind.other"),
                channel=channel_words.get(n.channel, words.t("route.other")),
                state=state,
                look=look,
                at=words.when(n.sent_at or n.created_at),
                problem=_problem(words, problem) if problem else "",
                retry=state == "failed" and n.key + "~retry" not in keys,
                followed=followed,
            )
        )
    return rows


def _state(n: NotificationState) -> tuple[str, str, str]:
    """(state, badge look, failure code) of a notification."""
    if n.status == "given_up":
        return "failed", "danger", n.last_error or "other"
    if n.status == "pending":
        if n.channel == "terminal":
            return "waiting_customer", "warn", ""
        return ("retrying", "warn", n.last_error or "") if n.attempts else ("queued", "info", "")
    if n.delivery in ("failed", "undelivered"):
        return "failed", "danger", "undelivered"
    if n.delivery in ("delivered", "read"):
        return n.delivery, "success", ""
    return "sent", "success", ""


def _problem(words: Words, code: str) -> str:
    return _label(words, f"console.request.notice_error.{code}") or words.t(
        "request.notice_error.other"
    )


def _label(words: Words, key: str) -> str | None:
    return words.catalogue.texts.get(words.lang, {}).get(key)

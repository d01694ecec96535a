"""The audit view for admins: who looked at ID proofs, which data copies
customers downloaded, what was changed on staff accounts, who signed in (or
failed to, or met a lock) and who exported the queue; each with when (in the
service's time zone) and from where, filterable by kind, newest first, paged.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.domain.records_staff import AuditLine
from bot.staff.accounts import Session
from bot.staff.chats import CHAT_VIEW
from bot.store.interface.desk import AUDIT_KINDS
from bot.web.console.pages import ConsolePages
from bot.web.console.words import Words

PAGE_SIZE = 50
MAX_PAGE = 10_000  # beyond this no page is asked for by a person
# The filter's choices: each a group of line kinds.
FILTERS: dict[str, tuple[str, ...]] = {
    "all": AUDIT_KINDS,
    "proof_view": ("proof_view",),
    "download": ("download",),
    "account": ("account",),
    "login": ("login", "login_failed", "login_locked"),
    "export": ("export",),
}


@dataclass(frozen=True)
class ShownLine:
    at: str
    kind: str
    look: str
    who: str
    what: str
    address: str | None  # None: the source keeps no address (the page says so)


def _what(line: AuditLine, words: Words) -> str:
    """What the line is about, in words: an account and its change, a
    request's reference, what an export held."""
    if line.kind == "account":
        change = words.audit(line.detail)
        return words.t("desk.audit.account_change", change=change, account=line.subject)
    if line.kind == "export":
        status, kind, rows, typed = [*line.subject.split(" ", 3), "", "", ""][:4]
        status_words = words.state(status) if words.has(f"console.state.{status}") else status
        known_kind = words.has(f"console.kind.{kind}")
        kind_words = words.kind(kind) if known_kind else words.t("desk.audit.all_types")
        text = words.t("desk.audit.export_what", status=status_words, type=kind_words, rows=rows)
        return text + (" " + words.t("desk.audit.export_search", q=typed) if typed else "")
    if line.kind == "proof_view" and line.detail == CHAT_VIEW:
        # Seen where the chat shows it: a file of the chat's own, or an ID proof it carried.
        if not line.subject:
            return words.t("desk.audit.chat_file")
        return words.t("desk.audit.in_chat", subject=line.subject)
    return line.subject


def shown(line: AuditLine, words: Words) -> ShownLine:
    who = words.actor(line.actor) if line.actor else words.t("desk.audit.unknown_account")
    look = {"login_failed": "warn", "login_locked": "danger", "login": "success"}.get(
        line.kind, "neutral"
    )
    return ShownLine(
        at=words.when(line.at),
        kind=words.t(f"desk.audit.kind.{line.kind}"),
        look=look,
        who=who,
        what=_what(line, words),
        address=line.address,
    )


def audit_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def audit(request: Request, session: Session) -> Response:
        chosen = request.query_params.get("kind", "all")
        chosen = chosen if chosen in FILTERS else "all"
        raw_page = request.query_params.get("page", "1")
        page = int(raw_page) if raw_page.isdigit() and len(raw_page) < 6 else 1
        page = min(max(page, 1), MAX_PAGE)
        async with core.services.store.transaction(readonly=True) as tx:
            lines = await tx.audit_lines(FILTERS[chosen], PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        words = kit.words(session.language)
        return kit.render(
            request,
            "audit.html",
            session,
            kit.t(session, "desk.audit.title"),
            nav="audit",
            lines=[shown(line, words) for line in lines[:PAGE_SIZE]],
            filters=list(FILTERS),
            chosen=chosen,
            page=page,
            more=len(lines) > PAGE_SIZE,
        )

    return [Route("/console/audit", signed_in(audit, admin=True), methods=["GET"])]

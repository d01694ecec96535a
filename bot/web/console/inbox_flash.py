"""The one-time messages after a chat act or a change of ready answers, in
the staff member's language (``console.chats.flash_<name>``). They travel in
the console's flash cookie (``ConsolePages.flashed``), signed for the session;
the page that shows one deletes it, so a reload shows nothing."""

from __future__ import annotations

from starlette.requests import Request

from bot.staff.accounts import Session
from bot.web.console.pages import ConsolePages, Notice

FLASHES = ("claim", "take_over", "note", "transfer", "release", "answer_saved", "answer_deleted")


def chat_flash(kit: ConsolePages, request: Request, session: Session) -> list[Notice]:
    """The act this session's flash cookie names; nothing for another
    session's cookie, an unknown name, or a page fetched again by live.js."""
    if request.headers.get("x-live") == "1":
        return []
    key = kit.flash_key(request, session)
    name = key.removeprefix("chats.")
    if key.startswith("chats.") and name in FLASHES:
        return [Notice("done", kit.t(session, f"chats.flash_{name}"))]
    return []

"""What every console page shares: texts in the staff member's language, the
page shell with its navigation, the gate every handler sits behind (a live
session; the session's CSRF token on every POST; admin pages for admins), the
messages a redirect may ask a page to show (catalogue keys only), and the
``rowid`` path parameter (numbers a database id can be, or no match: 404).
"""

from __future__ import annotations

import hmac
import html
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.core import Core
from bot.domain.errors import Refused
from bot.staff.accounts import Session, session_for

COOKIE = "pb_session"
LOGIN_CSRF = "pb_login"
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f4f6f8}"
    "header{background:#0b6bcb;color:#fff;padding:.75rem 1rem;display:flex;gap:1rem;"
    "align-items:center;flex-wrap:wrap}header a,header button{color:#fff}"
    "header button{background:transparent;border:1px solid #fff;border-radius:.3rem}"
    "main{padding:1rem;max-width:70rem;margin:auto}table{border-collapse:collapse;width:100%;"
    "background:#fff}td,th{border-bottom:1px solid #dde3ea;padding:.45rem;text-align:left;"
    "vertical-align:top}.soon{color:#a35c00;font-weight:600}.late{color:#b3261e;"
    "font-weight:700}.card{background:#fff;padding:1rem;border-radius:.5rem;margin:1rem 0}"
    "form.inline{display:inline}.msg{padding:.6rem;border-radius:.4rem;background:#e7f6ec}"
    ".err{background:#fdecea}img.proof{max-width:100%;border:1px solid #ccc}"
    "input,textarea,select,button{font-size:1rem;padding:.35rem;max-width:100%;"
    "box-sizing:border-box}textarea{width:100%;min-height:4rem}form{margin:.4rem 0}"
    "td{overflow-wrap:anywhere}.who-bot{background:#f7f9fb}.who-staff{background:#e7f0fd}"
    ".who-note{background:#fff6dd}.who-event{color:#5b6675;font-size:.9em}"
    "@media(max-width:40rem){td,th{display:block}}"
)

Handler = Callable[[Request, Session], Awaitable[Response]]
_KEY = re.compile(r"[a-z_]{1,40}")


class RowId(Convertor[int]):
    """A database id in a path. Up to 18 digits, so always within SQLite's
    64-bit integers: a longer number matches no route (404) instead of
    failing in the database (500)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("rowid", RowId())


class ConsolePages:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.secure = core.settings.public_url.startswith("https://")

    def t(self, session_or_lang: Session | str, key: str, **params: Any) -> str:
        """A console text in the reader's language, escaped for HTML."""
        lang = session_or_lang if isinstance(session_or_lang, str) else session_or_lang.language
        text = self.core.services.catalogue.text(lang, f"console.{key}")
        return html.escape(text.format(**params) if params else text)

    def page(
        self, lang: str, body: str, session: Session | None = None, status: int = 200
    ) -> Response:
        """The page shell: header, navigation for a session, never cached."""
        bar = ""
        if session is not None:
            other = "en" if session.language == "id" else "id"
            bar = (
                f'<a href="/console">{self.t(session, "queue")}</a>'
                f'<a href="/console/inbox">{self.t(session, "inbox")}</a>'
                + (
                    f'<a href="/console/staff">{self.t(session, "staff")}</a>'
                    if session.role == "admin"
                    else ""
                )
                + f'<a href="/console?lang={other}">{self.t(session, "language")}</a>'
                f"<span>{html.escape(session.email)} ({session.role})</span>"
                f'<form class="inline" method="post" action="/console/logout">'
                f'<input type="hidden" name="csrf" value="{session.csrf}">'
                f'<button type="submit">{self.t(session, "logout")}</button></form>'
            )
        document = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{self.t(lang, 'title')}</title><style>{STYLE}</style></head><body>"
            f"<header><strong>{self.t(lang, 'title')}</strong>{bar}</header><main>{body}</main>"
            + ('<script src="/console/live.js" defer></script>' if session else "")
            + "</body></html>"
        )
        return HTMLResponse(document, status_code=status, headers=HEADERS)

    def _problem_key(self, exc: Refused) -> str:
        """The key under ``console.problem`` the refusal names; ``not_possible``
        when the catalogue has no console text for it."""
        return exc.key if self._known("problem", exc.key) else "not_possible"

    def refused(self, path: str, exc: Refused) -> RedirectResponse:
        """Back to ``path`` saying why, by the refusal's key alone: its
        parameters (possibly quoting input) stay out of the URL, and the page
        shows the console's text for the key in the reader's language."""
        key = self._problem_key(exc)
        return RedirectResponse(f"{path}?error={quote(key)}", status_code=303)

    def problem(self, session: Session, exc: Refused) -> str:
        """A refusal shown on the page that answers the form itself: the
        console's text for its key, filled with its ``params``, in the
        reader's language."""
        key = self._problem_key(exc)
        params = exc.params if key != "not_possible" else {}
        return f'<p class="msg err">{self.t(session, f"problem.{key}", **params)}</p>'

    def notice(self, session: Session, request: Request) -> str:
        """The message a redirect asked for: ``error`` names a refusal under
        ``console.problem``, ``sent`` the route a reply took (``queued``: it
        waits for the customer to fetch it), ``done`` success. Only catalogue
        texts are shown; anything else in the URL shows nothing, so a crafted
        link cannot put its words in the console."""
        params = request.query_params
        problem, route = params.get("error", ""), params.get("sent", "")
        if self._known("problem", problem):
            return f'<p class="msg err">{self.t(session, f"problem.{problem}")}</p>'
        if route == "queued":
            return f'<p class="msg">{self.t(session, "queued")}</p>'
        if self._known("route", route):
            label = self.core.services.catalogue.text(session.language, f"console.route.{route}")
            return f'<p class="msg">{self.t(session, "sent_by", route=label)}</p>'
        if params.get("done"):
            return f'<p class="msg">{self.t(session, "done")}</p>'
        return ""

    def _known(self, table: str, key: str) -> bool:
        texts = self.core.services.catalogue.texts["id"]
        return bool(_KEY.fullmatch(key)) and f"console.{table}.{key}" in texts

    def signed_in(
        self, handler: Handler, admin: bool = False, touch: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            # A page fetched again by live.js is no sign of a person at work.
            active = touch and request.headers.get("x-live") != "1"
            session = await session_for(self.core.services, request.cookies.get(COOKIE), active)
            if session is None:
                if request.method == "GET":
                    return RedirectResponse("/console/login", status_code=303)
                return Response("login required", status_code=401, headers=HEADERS)
            if request.method == "POST":
                form = await request.form()
                given = str(form.get("csrf", ""))
                if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    return Response("invalid CSRF token", status_code=403, headers=HEADERS)
            if admin and session.role != "admin":
                refusal = f"<p>{self.t(session, 'admin_only')}</p>"
                return self.page(session.language, refusal, session, 403)
            return await handler(request, session)

        return run

"""What every console page shares: texts in the staff member's language, the
templates every page is rendered from (Jinja2, autoescaped), the gate every
handler sits behind (a live session; the session's CSRF token on every POST;
admin pages for admins), the messages a page may show (catalogue keys only:
a refusal named in ``?error=KEY``, or a one-time flash after a successful
form). The ``rowid`` path parameter is in ``bot.web.convertors``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

import bot.web.convertors  # noqa: F401  (registers ``rowid`` before routes are built)
from bot.core import Core
from bot.domain.errors import Refused
from bot.staff.accounts import Session, session_for
from bot.web.console.words import Words

COOKIE = "pb_session"
LOGIN_CSRF = "pb_login"
FLASH = "pb_flash"
FLASH_SECONDS = 60  # read by the page the redirect leads to, at once
LANGUAGES = ("id", "en")
# What the language switch carries over: the queue's and the audit's filters
# and the account a confirmation is about, nothing else a URL may hold (a
# crafted parameter never becomes part of a link on the page).
KEPT_PARAMS = ("status", "type", "q", "sort", "dir", "page", "kind", "email", "action", "tab")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
# What the console serves besides its pages: shipped in the package, fetched
# from nowhere else. The URL carries a digest of the file, so browsers may
# keep it for a day and still see a new version at once.
ASSETS = {
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
    "live.js": "text/javascript",
    "request.js": "text/javascript",
    "confirm.js": "text/javascript",
}
# Where a session with a one-time password may go: the change form and out.
PASSWORD_PAGE = "/console/password"
BEFORE_PASSWORD_CHANGE = (PASSWORD_PAGE, "/console/logout")

Handler = Callable[[Request, Session], Awaitable[Response]]
_KEY = re.compile(r"[a-z_]{1,40}")


@dataclass(frozen=True)
class Notice:
    """A message on top of a page: ``kind`` is done, info or error."""

    kind: str
    text: str


class Asset:
    """One file the console serves from the package, with its versioned URL."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.body = resources.files("bot").joinpath(f"static/{name}").read_bytes()
        self.media_type = ASSETS[name]
        digest = hashlib.sha256(self.body).hexdigest()[:12]
        self.url = f"/console/{name}?v={digest}"


def _environment() -> jinja2.Environment:
    """Templates from the package; every page autoescaped, whatever its name,
    and a missing value is an error in the tests rather than an empty spot."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class ConsolePages:
    """The kit every console module renders with: one per server, holding the
    templates and the assets read once from the package."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.secure = core.settings.public_url.startswith("https://")
        self.templates = Jinja2Templates(env=_environment())
        self.assets = {name: Asset(name) for name in ASSETS}

    def words(self, lang: str) -> Words:
        """The reader's words; an unknown language reads as the service's default."""
        settings = self.core.settings
        language = lang if lang in LANGUAGES else settings.default_language
        return Words(self.core.services.catalogue, ZoneInfo(settings.timezone), language)

    def t(self, session_or_lang: Session | str, key: str, **params: Any) -> str:
        """A console text in the reader's language (plain text: the templates escape)."""
        lang = session_or_lang if isinstance(session_or_lang, str) else session_or_lang.language
        return self.words(lang).t(key, **params)

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        title: str,
        *,
        nav: str = "",
        lang: str | None = None,
        status: int = 200,
        notices: Iterable[Notice] = (),
        **context: Any,
    ) -> Response:
        """A page from ``template`` in the reader's language, never cached,
        with the notices the request asks for (a refusal, a flash: the flash
        is read once, so a reload does not show it again)."""
        words = self.words(session.language if session else lang or "")
        shown = [*self._asked(request, session, words), *notices]
        other = "en" if words.lang == "id" else "id"
        query = {k: v for k, v in request.query_params.items() if k in KEPT_PARAMS}
        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "w": words,
                "t": words.t,
                "lang": words.lang,
                "other_lang": other,
                "switch_url": f"{request.url.path}?{urlencode({**query, 'lang': other})}",
                "session": session,
                "admin": session is not None and session.role == "admin",
                "title": title,
                "nav": nav,
                "notices": shown,
                "assets": {name: asset.url for name, asset in self.assets.items()},
                **context,
            },
            status_code=status,
            headers=HEADERS,
        )
        if FLASH in request.cookies and request.headers.get("x-live") != "1":
            response.delete_cookie(FLASH, path="/console")
        return response

    def message(self, request: Request, session: Session, key: str, status: int) -> Response:
        """A page that only says one thing (not found, admins only)."""
        text = self.t(session, key)
        return self.render(request, "message.html", session, text, status=status, text=text)

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

    def problem(self, session: Session, exc: Refused) -> Notice:
        """A refusal shown on the page that answers the form itself: the
        console's text for its key, filled with its ``params``, in the
        reader's language."""
        key = self._problem_key(exc)
        params = exc.params if key != "not_possible" else {}
        return Notice("error", self.t(session, f"problem.{key}", **params))

    def done(self, session: Session, key: str = "done") -> Notice:
        return Notice("done", self.t(session, key))

    def flashed(self, path: str, session: Session, key: str = "done") -> RedirectResponse:
        """Back to ``path`` (POST, redirect, GET) with a one-time message:
        ``done``, ``queued`` or ``sent.<route>``. It travels in a short-lived
        cookie signed with the session's CSRF secret, and the page that shows
        it deletes it, so a reload (or a link) shows nothing."""
        response = RedirectResponse(path, status_code=303)
        response.set_cookie(
            FLASH,
            f"{key}-{self._flash_mac(session, key)}",
            max_age=FLASH_SECONDS,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/console",
        )
        return response

    def sent(self, path: str, session: Session, route: str) -> RedirectResponse:
        """After a reply: the route it took (``queued``: it waits for the
        customer to fetch it), once."""
        return self.flashed(path, session, "queued" if route == "queued" else f"sent.{route}")

    @staticmethod
    def _flash_mac(session: Session, key: str) -> str:
        return hmac.new(session.csrf.encode(), key.encode(), hashlib.sha256).hexdigest()[:32]

    def flash_key(self, request: Request, session: Session) -> str:
        """The key of this session's flash cookie (``flashed``), or "" for
        none, another session's or a forged one: pages with flashes of their
        own (the chats) word it themselves."""
        key, _, mac = request.cookies.get(FLASH, "").rpartition("-")
        return key if key and hmac.compare_digest(mac, self._flash_mac(session, key)) else ""

    def _asked(self, request: Request, session: Session | None, words: Words) -> list[Notice]:
        """The messages a redirect asked for: ``?error=`` names a refusal under
        ``console.problem``; the flash cookie one success of this session.
        Only catalogue texts are shown; anything else shows nothing, so a
        crafted link cannot put its words in the console."""
        if session is None:
            return []
        shown = []
        problem = request.query_params.get("error", "")
        if self._known("problem", problem):
            shown.append(Notice("error", words.t(f"problem.{problem}")))
        key = self.flash_key(request, session)
        if key:
            if key in ("done", "queued"):
                shown.append(Notice("done" if key == "done" else "info", words.t(key)))
            elif self._known("flash", key):  # a page's own success text
                shown.append(Notice("done", words.t(f"flash.{key}")))
            elif key.startswith("sent.") and self._known("route", key.removeprefix("sent.")):
                route = words.t(f"route.{key.removeprefix('sent.')}")
                shown.append(Notice("done", words.t("sent_by", route=route)))
        return shown

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
            if session.must_change_password and request.url.path not in BEFORE_PASSWORD_CHANGE:
                # A one-time password: nothing else until it is changed.
                return RedirectResponse(PASSWORD_PAGE, status_code=303)
            if request.method == "POST":
                form = await request.form()
                given = str(form.get("csrf", ""))
                if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    return Response("invalid CSRF token", status_code=403, headers=HEADERS)
            elif request.query_params.get("lang") in LANGUAGES:
                return await self._switch_language(request, session)
            if admin and session.role != "admin":
                return self.message(request, session, "admin_only", 403)
            return await handler(request, session)

        return run

    async def _switch_language(self, request: Request, session: Session) -> Response:
        """``?lang=`` on any page: the session reads in that language from now
        on, and the same page comes back without the parameter."""
        lang = request.query_params["lang"]
        if lang != session.language:
            async with self.core.services.store.transaction() as tx:
                await tx.touch_session(session.id_hash, self.core.services.clock(), lang)
        query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
        return RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)

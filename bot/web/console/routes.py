"""The staff console (``/console``): logging in and out, live updates, and
the pages of ``console_requests``, ``console_chats`` and ``console_admin``.

Every page needs a session (cookie: HttpOnly, SameSite=Lax, Secure behind
https); every form carries the session's CSRF token, the login form a
cookie-bound one. Pages are plain HTML that works without script, served with
a strict Content-Security-Policy and never cached; one small script of our own
(``live.js``) listens to ``/console/events`` (Server-Sent Events) and swaps in
the page's ``data-live`` parts when something changed. Actions call the same
use cases as the command line and the API (``bot.requests.actions``,
``bot.staff.chats``); each is recorded with the staff member's email, and a
refusal comes back as its key (``?error=KEY``), shown in the reader's language.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from bot.core import Core
from bot.staff.accounts import LoginBusy, LoginRefused, Session, log_in, session_for
from bot.web.console.admin import admin_routes
from bot.web.console.chats import chat_routes
from bot.web.console.live import ActivityFeed
from bot.web.console.pages import COOKIE, HEADERS, LOGIN_CSRF, ConsolePages
from bot.web.console.requests import request_routes

LIVE_POLL_SECONDS = 1.0
LIVE_JS = resources.files("bot").joinpath("static/live.js").read_bytes()


def console_routes(core: Core) -> list[BaseRoute]:
    kit = ConsolePages(core)
    t, page, signed_in, secure = kit.t, kit.page, kit.signed_in, kit.secure
    feed = ActivityFeed(core, LIVE_POLL_SECONDS)

    async def login_form(request: Request, error: str = "", status: int = 200) -> Response:
        """``error``: the catalogue key of the refusal to show, if any."""
        token = secrets.token_urlsafe(24)
        lang = core.settings.default_language
        notice = f'<p class="msg err">{t(lang, error)}</p>' if error else ""
        body = (
            f'<div class="card">{notice}<form method="post" action="/console/login">'
            f'<input type="hidden" name="csrf" value="{token}">'
            f'<p><label>{t(lang, "email")}<br><input name="email" type="email" required '
            f'autocomplete="username"></label></p>'
            f'<p><label>{t(lang, "password")}<br><input name="password" type="password" '
            f'required autocomplete="current-password"></label></p>'
            f'<button type="submit">{t(lang, "login")}</button></form></div>'
        )
        response = page(lang, body, status=status)
        response.set_cookie(
            LOGIN_CSRF, token, httponly=True, samesite="lax", secure=secure, path="/console"
        )
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return await login_form(request)
        form = await request.form()
        expected = request.cookies.get(LOGIN_CSRF, "")
        if not expected or not hmac.compare_digest(
            str(form.get("csrf", "")).encode(), expected.encode()
        ):
            return Response("invalid CSRF token", status_code=403, headers=HEADERS)
        address = request.client.host if request.client else "unknown"
        try:
            cookie = await log_in(
                core.services, str(form.get("email", "")), str(form.get("password", "")), address
            )
        except LoginRefused:
            return await login_form(request, error="login_failed", status=401)
        except LoginBusy:
            busy = await login_form(request, error="login_busy", status=429)
            busy.headers["Retry-After"] = "5"
            return busy
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
            max_age=12 * 3600,
        )
        response.delete_cookie(LOGIN_CSRF, path="/console")
        return response

    async def logout(request: Request, session: Session) -> Response:
        async with core.services.store.transaction() as tx:
            await tx.delete_session(session.id_hash)
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def events(request: Request, session: Session) -> Response:
        """Server-Sent Events: ``change`` whenever a chat or a request changed.

        The server's one ``ActivityFeed`` watches the database; each stream
        wakes when it moves (or each second, to notice a stop or a closed
        tab), re-checks the session every half minute without counting as
        activity, and ends when the server stops."""
        cookie = request.cookies.get(COOKIE)

        async def stream() -> AsyncIterator[str]:
            feed.join()
            try:
                version = feed.version
                yield "retry: 3000\n\n"
                tick = 0
                while not core.stopping.is_set():
                    seen = await feed.wait(version, LIVE_POLL_SECONDS)
                    tick += 1
                    if core.stopping.is_set() or await request.is_disconnected():
                        return
                    if tick % 30 == 0:
                        if await session_for(core.services, cookie, touch=False) is None:
                            return
                        yield ": still here\n\n"  # keeps proxies from closing an idle stream
                    if seen != version:
                        version = seen
                        yield f"event: change\ndata: {version}\n\n"
            finally:
                feed.leave()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**HEADERS, "X-Accel-Buffering": "no"},
        )

    async def live_script(request: Request) -> Response:
        return Response(LIVE_JS, media_type="text/javascript", headers=HEADERS)

    return [
        Route("/console/login", login, methods=["GET", "POST"]),
        Route("/console/logout", signed_in(logout), methods=["POST"]),
        Route("/console/events", signed_in(events, touch=False), methods=["GET"]),
        Route("/console/live.js", live_script, methods=["GET"]),
        *request_routes(kit),
        *chat_routes(kit),
        *admin_routes(kit),
    ]

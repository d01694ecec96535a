"""The staff console (``/console``): logging in and out, live updates, and
the pages of ``console_requests``, ``console_chats`` and ``console_admin``.

Every page needs a session (cookie: HttpOnly, SameSite=Lax, Secure behind
https); every form carries the session's CSRF token, the login form a
cookie-bound one. Pages are plain HTML from the package's templates
(``templates/``, autoescaped) that works without script, styled by one
stylesheet of our own (``bot/static/console.css``), served with a strict
Content-Security-Policy and never cached; one small script of our own
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

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from bot.core import Core
from bot.infra.crypto import hash_token
from bot.staff.accounts import LoginBusy, LoginRefused, Session, log_in, session_for
from bot.web.console.account import account_routes
from bot.web.console.admin import admin_routes
from bot.web.console.audit import audit_routes
from bot.web.console.chats import chat_routes
from bot.web.console.dashboard import dashboard_routes
from bot.web.console.live import ActivityFeed
from bot.web.console.pages import COOKIE, HEADERS, LANGUAGES, LOGIN_CSRF, ConsolePages, Notice
from bot.web.console.queue import queue_routes
from bot.web.console.requests import request_routes

LIVE_POLL_SECONDS = 1.0


def console_routes(core: Core) -> list[BaseRoute]:
    kit = ConsolePages(core)
    signed_in, secure = kit.signed_in, kit.secure
    feed = ActivityFeed(core, LIVE_POLL_SECONDS)

    async def login_form(request: Request, error: str = "", status: int = 200) -> Response:
        """``error``: the catalogue key of the refusal to show, if any. The
        page reads in ``?lang=`` (or the form's language after a refusal)."""
        token = secrets.token_urlsafe(24)
        lang = request.query_params.get("lang", "")
        if request.method == "POST":
            lang = str((await request.form()).get("lang", ""))
        words = kit.words(lang)
        response = kit.render(
            request,
            "login.html",
            None,
            words.t("login"),
            lang=words.lang,
            status=status,
            notices=[Notice("error", words.t(error))] if error else [],
            csrf=token,
        )
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
        lang = str(form.get("lang", ""))
        if lang in LANGUAGES and lang != core.settings.default_language:
            # The language the login page was read in is the session's.
            async with core.services.store.transaction() as tx:
                await tx.touch_session(hash_token(cookie), core.services.clock(), lang)
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

    async def asset(request: Request) -> Response:
        """The stylesheet, the favicon and live.js, from the package; their
        URLs carry a digest, so browsers may keep them a day."""
        found = kit.assets[request.url.path.removeprefix("/console/")]
        headers = {**HEADERS, "Cache-Control": "public, max-age=86400"}
        return Response(found.body, media_type=found.media_type, headers=headers)

    return [
        Route("/console/login", login, methods=["GET", "POST"]),
        Route("/console/logout", signed_in(logout), methods=["POST"]),
        Route("/console/events", signed_in(events, touch=False), methods=["GET"]),
        *(Route(f"/console/{name}", asset, methods=["GET"]) for name in kit.assets),
        *queue_routes(kit),
        *request_routes(kit),
        *chat_routes(kit),
        *admin_routes(kit),
        *account_routes(kit),
        *dashboard_routes(kit),
        *audit_routes(kit),
    ]

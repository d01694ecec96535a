"""The web application ``privacybot serve`` runs: health, the ID-proof upload
page for SMS customers, and the routes of every enabled channel adapter.

One ASGI app, one event loop: the engine is opened in the lifespan, adapters
start after it (Telegram polling runs as a task of the same loop), and a
housekeeping task sweeps abandoned drafts every hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from importlib import resources
from string import Template
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import open_engine
from bot.conversation.codes import arm_code
from bot.conversation.engine import UploadLinkInvalid
from bot.core import Core
from bot.delivery.notifications import run_worker
from bot.delivery.staff_alerts import run_announcer
from bot.domain.models import InboundFile
from bot.housekeeping import purge_in_turn
from bot.infra.catalogue import Catalogue
from bot.infra.clock import Clock, utc_now
from bot.infra.crypto import hash_token
from bot.infra.directory import everyone_counts
from bot.requests.exports import DownloadError, open_download, send_download_code
from bot.staff.accounts import ensure_first_admin
from bot.web.api import PREFIX as API_PREFIX
from bot.web.api import api_routes
from bot.web.console.account import client_address
from bot.web.console.routes import console_routes

log = logging.getLogger(__name__)

WEBHOOK_BODY_LIMIT = 1024 * 1024  # Twilio and Telegram bodies are far smaller; the
# largest body that may come without a Content-Length
EXPORT_BODY_LIMIT = 110 * 1024 * 1024  # back-office export uploads
HOUSEKEEPING_SECONDS = 3600
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


def _template(name: str) -> Template:
    return Template(resources.files("bot").joinpath(f"templates/{name}").read_text("utf-8"))


class BodyLimit:
    """Refuse bodies over the limit with 413 before the app sees them: by
    Content-Length when given (the HTTP server holds the client to it), and
    otherwise (chunked) by reading the body first, up to the limit: only where
    bodies are small (webhooks); larger ones must declare their length, so
    many large chunked bodies cannot exhaust memory before a handler can
    refuse them."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        try:
            await self._limited(scope, receive, send)
        except ClientDisconnect:
            # Routine (a phone lost its signal): one line, not an ERROR traceback.
            _disconnected(scope)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _too_large(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if limit > WEBHOOK_BODY_LIMIT:
            # Large uploads (ID proofs, data copies) come from browsers and
            # back-office clients that say their length: no stranger gets to
            # stream 100 MB in before a handler can check who they are.
            await _refuse(scope, receive, send, 411, "Content-Length required")
            return
        body = bytearray()  # at most WEBHOOK_BODY_LIMIT
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                _disconnected(scope)
                return
            body.extend(message.get("body", b""))
            if len(body) > limit:
                await _too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _disconnected(scope: Scope) -> None:
    # Only the first path segment: upload and download paths hold their token.
    area = "/" + str(scope["path"]).split("/")[1]
    log.info("client disconnected before sending the whole body: %s %s", scope["method"], area)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await _refuse(scope, receive, send, 413, "request body too large")


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    """The API's refusals are its documented JSON error; other pages get text."""
    if scope["path"].startswith(API_PREFIX + "/"):
        response: Response = JSONResponse({"error": text}, status_code=status)
    else:
        response = Response(text, status_code=status)
    await response(scope, receive, send)


class Server(uvicorn.Server):
    """uvicorn waits for open responses before it stops; the console's event
    streams never end on their own, so they are told first."""

    def __init__(self, config: uvicorn.Config, core: Core) -> None:
        super().__init__(config)
        self.core = core

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.core.stopping.set()
        await super().shutdown(sockets=sockets)


def create_app(
    core: Core,
    clock: Clock = utc_now,
    housekeeping_seconds: float = HOUSEKEEPING_SECONDS,
) -> ASGIApp:
    settings = core.settings
    upload_limit = settings.max_attachment_bytes * 2 + 64 * 1024
    limit_mb = settings.max_attachment_bytes // (1024 * 1024)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_engine(settings, clock=clock) as engine:
            core.attach(engine)
            services = engine.services
            password = await ensure_first_admin(services)
            if password is not None:
                # Shown once, on the console that started the server, never logged.
                sys.stderr.write(
                    "No staff accounts yet: created admin@localhost with the one-time "
                    f"password\n{password}\nLog in at /console and create real accounts.\n"
                )
                sys.stderr.flush()
            if await everyone_counts(services.directory, services.store):
                log.warning(
                    "no account directory (PRIVACYBOT_ACCOUNTS_URL or `privacybot accounts "
                    "import`): every email counts as registered"
                )
            started = []
            tasks: list[asyncio.Task[None]] = []
            try:
                for adapter in core.channels.adapters:
                    await adapter.start()
                    started.append(adapter)
                tasks.append(asyncio.create_task(_housekeeping(core, housekeeping_seconds)))
                tasks.append(
                    asyncio.create_task(
                        run_worker(services, core.channels, partial(arm_code, services))
                    )
                )
                if core.channels.staff_alerts() is not None:
                    tasks.append(asyncio.create_task(run_announcer(services, core.channels)))
                if services.store.applied:
                    applied = ", ".join(map(str, services.store.applied))
                    log.info("database schema upgraded (applied: %s)", applied)
                log.info("serving; channels: %s", ", ".join(a.name for a in started) or "none")
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await core.channels.flush()  # staff replies' mail sent after their commit
                for adapter in reversed(started):
                    try:
                        await adapter.stop()
                    except Exception as exc:  # keep stopping the others
                        log.error("stopping %s failed: %s", adapter.name, type(exc).__name__)
                core.attach(None)

    async def healthz(request: Request) -> JSONResponse:
        database = "ok"
        try:
            await core.services.store.ping()
        except Exception as exc:  # report, do not crash
            database = f"error: {type(exc).__name__}"
        channels = {
            "telegram": {"enabled": False},
            "whatsapp": {"enabled": False},
            "sms": {"enabled": False},
        }
        for adapter in core.channels.adapters:
            for channel in adapter.channels:
                channels[channel.value] = adapter.status()
        healthy = database == "ok"
        return JSONResponse(
            {"status": "ok" if healthy else "error", "database": database, "channels": channels},
            status_code=200 if healthy else 503,
        )

    async def upload(request: Request) -> Response:
        token = request.path_params["token"]
        engine = core.engine
        catalogue = core.services.catalogue
        language = await engine.upload_page_language(token)
        if language is None:
            return _page(catalogue, settings.default_language, "invalid", limit_mb, status=410)
        if request.method == "GET":
            return _page(catalogue, language, "form", limit_mb)
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:  # a broken multipart body
            return _page(catalogue, language, "form", limit_mb, error="missing", status=400)
        uploaded = form.get("file")
        if uploaded is None or isinstance(uploaded, str) or not uploaded.filename:
            return _page(catalogue, language, "form", limit_mb, error="missing", status=400)
        data = await uploaded.read(settings.max_attachment_bytes + 1)
        size = max(uploaded.size or 0, len(data))
        await form.close()
        try:
            result = await engine.handle_upload(token, InboundFile(data, size, uploaded.filename))
        except UploadLinkInvalid:
            return _page(catalogue, settings.default_language, "invalid", limit_mb, status=410)
        if not result.accepted:
            problem = "\n\n".join(r.text for r in result.replies)
            return _page(
                catalogue,
                result.language,
                "form",
                limit_mb,
                error_text=problem,
                status=422,
            )
        # The next step, by SMS: an answer to the upload, not a message of our own.
        delivered = await core.channels.deliver(result.replies, proactive=False)
        return _page(catalogue, result.language, "done" if delivered else "unsent", limit_mb)

    async def download(request: Request) -> Response:
        token = request.path_params["token"]
        services = core.services
        catalogue = services.catalogue
        async with services.store.transaction(readonly=True) as tx:
            found = await tx.get_download(hash_token(token), services.clock())
        if found is None:
            return _download_page(catalogue, settings.default_language, "gone", 410)
        language = found.language
        if request.method == "GET":
            return _download_page(catalogue, language, None)
        try:
            form = await request.form(max_files=0, max_fields=3)
        except Exception:  # a malformed body
            return _download_page(catalogue, language, "wrong", 400)
        try:
            if form.get("action") == "send":
                await send_download_code(services, token)
                return _download_page(catalogue, language, "sent")
            code, address = str(form.get("code", "")), client_address(request)
            name, data = await open_download(services, token, code, address)
        except DownloadError as exc:
            status = {"gone": 410, "wait": 429, "limit": 429, "code": 403}[exc.reason]
            key = {"gone": "gone", "wait": "wait", "limit": "limit", "code": "wrong"}[exc.reason]
            return _download_page(catalogue, language, key, status)
        return Response(
            data,
            media_type="application/zip",
            headers={**_SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    # Starlette tries routes in order: the webhooks, which carry nearly all
    # the traffic, first (the console alone has dozens of routes).
    routes = [route for adapter in core.channels.adapters for route in adapter.routes()]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/upload/{token}", upload, methods=["GET", "POST"]),
        Route("/download/{token}", download, methods=["GET", "POST"]),
    ]
    routes.extend(api_routes(core))
    routes.extend(console_routes(core))
    app = Starlette(routes=routes, lifespan=lifespan)

    def limit_for(path: str) -> int:
        if path.startswith("/upload/"):
            return upload_limit
        if path.startswith("/api/v1/") and path.endswith("/export"):
            return EXPORT_BODY_LIMIT
        if path.startswith("/console/requests/") and path.endswith("/complete"):
            return EXPORT_BODY_LIMIT
        return WEBHOOK_BODY_LIMIT

    return BodyLimit(app, limit_for)


async def _housekeeping(core: Core, every: float) -> None:
    while True:
        try:
            await purge_in_turn(core.services, core.engine, core.instance, timedelta(seconds=every))
        except Exception as exc:  # try again next round
            log.error("housekeeping failed: %s", type(exc).__name__)
        await asyncio.sleep(every)


def _download_page(
    catalogue: Catalogue, language: str, message: str | None, status: int = 200
) -> HTMLResponse:
    def t(key: str) -> str:
        return html.escape(catalogue.text(language, f"download.{key}"))

    notice = ""
    if message:
        kind = "done" if message == "sent" else "error"
        notice = f'<p class="message {kind}" role="status">{t(message)}</p>'
    form = ""
    if message != "gone":
        form = _template("download_form.html").substitute(
            intro=t("intro"), send=t("send"), code_label=t("code_label"), submit=t("submit")
        )
    body = _template("upload.html").substitute(
        lang=language, title=t("title"), message=notice, form=form
    )
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


def _page(
    catalogue: Catalogue,
    language: str,
    kind: str,
    limit_mb: int,
    error: str | None = None,
    error_text: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    def t(key: str, **params: Any) -> str:
        return html.escape(catalogue.text(language, f"upload.{key}").format(**params))

    message = ""
    if kind == "invalid":
        message = f'<p class="message error">{t("invalid")}</p>'
    elif kind in ("done", "unsent"):
        message = f'<p class="message done" role="status">{t(kind)}</p>'
    elif error or error_text:
        text = t(error) if error else html.escape(error_text or "").replace("\n", "<br>")
        message = f'<p class="message error" role="alert">{text}</p>'
    form = ""
    if kind == "form":
        form = _template("upload_form.html").substitute(
            intro=t("intro"),
            rules=t("rules", limit_mb=limit_mb),
            choose=t("choose"),
            submit=t("submit"),
        )
    body = _template("upload.html").substitute(
        lang=language, title=t("title"), message=message, form=form
    )
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)

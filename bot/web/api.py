"""The back-office API (``/api/v1``): requests, their lifecycle actions, and
the access export, for systems holding a bearer token.

Tokens come from ``privacybot api-token create NAME``; only a hash is stored.
Actions are recorded with the actor ``api:NAME``. The routes call the same
use cases as the command line and the console (``bot.requests.actions``); a
refusal is answered as ``{"error": TEXT, "key": KEY, "params": {...}}``, the
text in English from the catalogue. ``/api/v1/openapi.json`` describes
exactly these routes.
"""

from __future__ import annotations

import hmac
import re
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

import bot.web.convertors  # noqa: F401  (registers ``rowid`` before routes are built)
from bot.core import Core
from bot.delivery.notifications import retry_notification
from bot.domain.errors import Refused
from bot.infra.catalogue import Catalogue
from bot.infra.clock import utc_now
from bot.infra.crypto import hash_token
from bot.requests import actions
from bot.requests.exports import MAX_UPLOADED_EXPORT_BYTES, ExportFile, ExportTooLarge
from bot.requests.lifecycle import MOVES, BadDate, DateOutOfRange, deadline
from bot.requests.lookup import (
    BadReference,
    RequestNotFound,
    find_request,
    list_requests,
    notifications_of,
    request_detail,
    request_summary,
)
from bot.web.openapi import OPENAPI, PREFIX
from flows.types import RequestStatus


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _refused(catalogue: Catalogue, exc: Refused) -> JSONResponse:
    """A refused act as its documented status and JSON: the English text,
    and the key and parameters for a client that words it itself."""
    if isinstance(exc, RequestNotFound | BadReference) or exc.key == "no_notification":
        status = 404
    elif isinstance(exc, BadDate | DateOutOfRange):
        status = 400
    elif isinstance(exc, ExportTooLarge):
        status = 413
    else:  # not possible now, or something the act needs is missing
        status = 409
    text = catalogue.refusal("en", exc.key, exc.params)
    return JSONResponse({"error": text, "key": exc.key, "params": exc.params}, status_code=status)


def api_routes(core: Core) -> list[BaseRoute]:
    async def actor_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not hmac.compare_digest(scheme.lower().encode(), b"bearer") or not token.strip():
            return None
        async with core.services.store.transaction() as tx:
            name = await tx.api_token_name(hash_token(token.strip()), core.services.clock())
        return f"api:{name}" if name else None

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            actor = await actor_of(request)
            if actor is None:
                return _error(
                    401,
                    "a valid bearer token is required",
                    **{"WWW-Authenticate": 'Bearer realm="privacybot"'},
                )
            try:
                return await handler(request, actor)
            except Refused as exc:
                return _refused(core.services.catalogue, exc)

        return run

    def today() -> date:
        return utc_now().astimezone(ZoneInfo(core.settings.timezone)).date()

    def with_deadline(record: Any, detail: bool = False) -> dict[str, Any]:
        data = request_detail(record) if detail else request_summary(record)
        d = deadline(record, today())
        data.update(business_days_left=d.business_days_left, due_soon=d.due_soon, overdue=d.overdue)
        return data

    async def list_all(request: Request, actor: str) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in {s.value for s in RequestStatus}:
            return _error(400, f"unknown status {status!r}")
        found = await list_requests(core.services.store, RequestStatus(status) if status else None)
        return JSONResponse([with_deadline(r) for r in found])

    async def show(request: Request, actor: str) -> Response:
        record = await find_request(core.services.store, request.path_params["reference"])
        return JSONResponse(with_deadline(record, detail=True))

    async def move(request: Request, actor: str) -> Response:
        action = request.path_params["action"]
        if action not in MOVES:
            return _error(404, f"unknown action {action!r}")
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return _error(400, "the body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        for name in ("reason", "message", "until"):
            if body.get(name) is not None and not isinstance(body[name], str):
                return _error(400, f"{name} must be a string")
        services, reference = core.services, request.path_params["reference"]
        reason, message = body.get("reason"), body.get("message")
        if action == "complete":
            result = await actions.complete(services, reference, actor, reason=reason)
        elif action == "verify":
            result = await actions.verify(services, reference, actor, reason=reason)
        elif action == "ask":
            result = await actions.ask(services, reference, actor, message)
        elif action == "reject":
            result = await actions.reject(services, reference, actor, reason)
        elif action == "delay":
            result = await actions.delay(services, reference, actor, reason, body.get("until"))
        else:
            result = await actions.cancel(services, reference, actor, reason=reason)
        return JSONResponse(with_deadline(result.request, detail=True))

    async def export(request: Request, actor: str) -> Response:
        try:
            form = await request.form(max_files=20, max_fields=0)
        except HTTPException as exc:  # Starlette's word for a multipart body it cannot parse
            return _error(400, f"a malformed multipart body: {exc.detail}")
        files = []
        for _, value in form.multi_items():
            if isinstance(value, str):
                continue
            data = await value.read(MAX_UPLOADED_EXPORT_BYTES + 1)
            if len(data) > MAX_UPLOADED_EXPORT_BYTES:
                raise ExportTooLarge(value.filename or "export")
            files.append(ExportFile(value.filename or "export", data))
        await form.close()
        if not files:
            return _error(400, "upload at least one file (multipart, any field name)")
        reference = request.path_params["reference"]
        result = await actions.complete(core.services, reference, actor, files=files)
        return JSONResponse(with_deadline(result.request, detail=True))

    async def notifications(request: Request, actor: str) -> Response:
        found = await notifications_of(core.services.store, request.path_params["reference"])
        return JSONResponse(found)

    async def retry(request: Request, actor: str) -> Response:
        """Send a failed notification again (``retry_notification``, as the
        console's button): the request's notifications after it, the new one last."""
        store = core.services.store
        record = await find_request(store, request.path_params["reference"])
        await retry_notification(core.services, record.reference, request.path_params["id"], actor)
        return JSONResponse(await notifications_of(store, record.reference))

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    # Its own app under the prefix, so that every answer under /api/v1 (an
    # unknown path, a wrong method, a body Starlette cannot parse) is the
    # documented JSON error, not Starlette's plain text.
    api = Starlette(
        routes=[
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/requests", guarded(list_all), methods=["GET"]),
            Route("/requests/{reference}", guarded(show), methods=["GET"]),
            Route("/requests/{reference}/export", guarded(export), methods=["POST"]),
            Route("/requests/{reference}/notifications", guarded(notifications), methods=["GET"]),
            Route(
                "/requests/{reference}/notifications/{id:rowid}/retry",
                guarded(retry),
                methods=["POST"],
            ),
            Route("/requests/{reference}/{action}", guarded(move), methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    mount = Mount(PREFIX, app=api)
    # Starlette's ".*" stops at a newline: "/api/v1/requests/X%0A/verify" would
    # fall past the API to the plain-text 404 of the app around it.
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return [mount]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "no such route", 405: "method not allowed"}.get(exc.status_code, exc.detail)
    return _error(exc.status_code, message, **(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    return _error(500, "internal error")

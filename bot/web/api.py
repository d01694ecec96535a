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

from bot.core import Core
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
    request_detail,
    request_summary,
)
from flows.types import RequestStatus

PREFIX = "/api/v1"


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _refused(catalogue: Catalogue, exc: Refused) -> JSONResponse:
    """A refused act as its documented status and JSON: the English text,
    and the key and parameters for a client that words it itself."""
    if isinstance(exc, RequestNotFound | BadReference):
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


# What each status means, for the client that reads the document.
_STATUS_WORDS = (
    "awaiting_id_proof: filed without ID proof; verifying: ID proof received; "
    "needs_info: staff asked the customer for more; info_received: the customer "
    "answered (more answers may follow until staff act); in_progress: identity "
    "accepted; completed, rejected, cancelled: closed. All but the last three are open."
)

_REQUEST = {
    "type": "object",
    "required": [
        "reference",
        "type",
        "status",
        "channel",
        "customer_address",
        "full_name",
        "email",
        "reason",
        "language",
        "created_at",
        "updated_at",
        "due_date",
        "business_days_left",
        "due_soon",
        "overdue",
    ],
    "properties": {
        "reference": {"type": "string", "pattern": "^(DEL|ACC|COR|RES)-[0-9A-HJKMNP-TV-Z]{6}$"},
        "type": {"type": "string", "enum": ["deletion", "access", "correction", "restriction"]},
        "status": {
            "type": "string",
            "enum": [s.value for s in RequestStatus],
            "description": _STATUS_WORDS,
        },
        "channel": {"type": "string", "enum": ["terminal", "whatsapp", "sms", "telegram"]},
        "customer_address": {"type": "string"},
        "full_name": {"type": "string"},
        "email": {"type": "string"},
        "reason": {"type": "string", "nullable": True},
        "language": {"type": "string", "enum": ["id", "en"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "due_date": {"type": "string", "format": "date"},
        "business_days_left": {"type": "integer"},
        "due_soon": {"type": "boolean"},
        "overdue": {"type": "boolean"},
        "details": {"type": "object"},
        "attachments": {"type": "array", "items": {"type": "object"}},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, in English"},
        "key": {
            "type": "string",
            "description": "a refused act: why, as a stable name (e.g. not_possible, "
            "reason_missing, until_range, no_request) for a client that words it itself",
        },
        "params": {
            "type": "object",
            "description": "with key: the values in the text (e.g. status, earliest, latest)",
            "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        },
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": {
        "description": "no or an invalid bearer token",
        "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
        **_json(_ERROR),
    },
    "404": {"description": "no such request (or a malformed reference)", **_json(_ERROR)},
}
_REF = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "a request reference, e.g. DEL-7K3M9Q; 404 when no request has it",
    "schema": {"type": "string"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "privacybot back-office API", "version": "1"},
    "servers": [{"url": PREFIX}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Request": _REQUEST, "Error": _ERROR},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/requests": {
            "get": {
                "summary": "All requests, soonest due first",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": [s.value for s in RequestStatus]},
                        "description": "only requests in this status; " + _STATUS_WORDS,
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the requests",
                        **_json(
                            {"type": "array", "items": {"$ref": "#/components/schemas/Request"}}
                        ),
                    },
                    "400": {"description": "unknown status", **_json(_ERROR)},
                    "401": _ERRORS["401"],
                },
            }
        },
        "/requests/{reference}": {
            "get": {
                "summary": "One request with its files' descriptions and its events",
                "parameters": [_REF],
                "responses": {
                    "200": {
                        "description": "the request",
                        **_json({"$ref": "#/components/schemas/Request"}),
                    },
                    **_ERRORS,
                },
            }
        },
        "/requests/{reference}/{action}": {
            "post": {
                "summary": "A lifecycle action: verify, ask, reject, delay, complete, cancel",
                "parameters": [
                    _REF,
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(MOVES)},
                    },
                ],
                "requestBody": {
                    "required": False,
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "reason": {"type": "string"},
                                "message": {"type": "string"},
                                "until": {
                                    "type": "string",
                                    "format": "date",
                                    "description": "delay: the new due date, after the "
                                    "current one, from today to at most two years ahead",
                                },
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "the request after the action",
                        **_json({"$ref": "#/components/schemas/Request"}),
                    },
                    "400": {
                        "description": "a malformed body, or an until that is no date "
                        "(bad_date), in the past or more than two years ahead (until_range)",
                        **_json(_ERROR),
                    },
                    "409": {
                        "description": "not possible from the current status "
                        "(not_possible, needs_export), a reason, message or until the action "
                        "needs is missing or blank (reason_missing, message_missing, "
                        "until_missing), or an until not after the current due date "
                        "(date_not_later)",
                        **_json(_ERROR),
                    },
                    "413": {"description": "a body over 1 MB", **_json(_ERROR)},
                    **_ERRORS,
                },
            }
        },
        "/requests/{reference}/export": {
            "post": {
                "summary": "Complete an access request with the back office's files",
                "parameters": [_REF],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": 20,
                                        "items": {"type": "string", "format": "binary"},
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the completed request",
                        **_json({"$ref": "#/components/schemas/Request"}),
                    },
                    "400": {
                        "description": "no file, a field that is not a file, more than 20 "
                        "files, or a malformed multipart body",
                        **_json(_ERROR),
                    },
                    "409": {
                        "description": "not an access request in progress "
                        "(not_access, not_possible)",
                        **_json(_ERROR),
                    },
                    "411": {
                        "description": "a body sent without its Content-Length",
                        **_json(_ERROR),
                    },
                    "413": {"description": "a file over 50 MB", **_json(_ERROR)},
                    **_ERRORS,
                },
            }
        },
    },
}

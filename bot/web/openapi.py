"""The API's OpenAPI document (``/api/v1/openapi.json``): exactly the routes
of ``bot.web.api``, kept apart so the routes stay readable. The contract test
checks every answer of the API against it."""

from __future__ import annotations

from typing import Any

from bot.requests.lifecycle import MOVES
from flows.types import RequestStatus

PREFIX = "/api/v1"

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
_NOTIFICATION = {
    "type": "object",
    "required": [
        "id", "kind", "channel", "status", "delivery", "attempts", "last_error",
        "created_at", "sent_at",
    ],
    "properties": {
        "id": {"type": "integer", "description": "for a retry"},
        "kind": {
            "type": "string",
            "description": "what it tells the customer (received, completed, needs_info, "
            "rejected, delayed, cancelled, download...)",
        },
        "channel": {
            "type": "string",
            "description": "the route: whatsapp, sms, telegram, terminal or email",
        },
        "status": {
            "type": "string",
            "enum": ["pending", "sent", "given_up"],
            "description": "pending: queued or being retried; sent: handed to the provider; "
            "given_up: failed after its retries (it may be retried)",
        },
        "delivery": {
            "type": "string",
            "nullable": True,
            "description": "the provider's latest report (delivered, read, failed, "
            "undelivered...), null without one",
        },
        "attempts": {"type": "integer"},
        "last_error": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "sent_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}  # fmt: skip
_NOTIFICATIONS = {
    "description": "the request's notifications, oldest first",
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}}
        }
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
        "schemas": {"Request": _REQUEST, "Notification": _NOTIFICATION, "Error": _ERROR},
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
        "/requests/{reference}/notifications": {
            "get": {
                "summary": "The notifications sent for a request, with their delivery state",
                "parameters": [_REF],
                "responses": {"200": _NOTIFICATIONS, **_ERRORS},
            }
        },
        "/requests/{reference}/notifications/{id}/retry": {
            "post": {
                "summary": "Send a failed notification again, on the same route",
                "description": "Queues a copy of a given-up notification; the failed one "
                "stays as the record. Recorded in the request's history for the token.",
                "parameters": [
                    _REF,
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": _NOTIFICATIONS,
                    "409": {
                        "description": "it has not failed (not_failed), it was retried "
                        "already (already_retried), or the customer's address was erased "
                        "(no_address)",
                        **_json(_ERROR),
                    },
                    **_ERRORS,
                    "404": {
                        "description": "no such request, or no such notification of it "
                        "(no_notification)",
                        **_json(_ERROR),
                    },
                },
            }
        },
    },
}

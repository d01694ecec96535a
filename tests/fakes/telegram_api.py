"""A local fake of the Telegram Bot API that the real python-telegram-bot talks to.

It is an aiohttp server on 127.0.0.1 (free port) started inside the running event loop::

    async with FakeTelegram(TOKEN) as tg:
        bot = telegram.Bot(TOKEN, base_url=tg.base_url, base_file_url=tg.base_file_url)

Requests arrive exactly as Telegram would receive them: ``POST /bot<TOKEN>/<method>`` with a
form-encoded (or multipart) body in which nested objects such as ``reply_markup`` are JSON
strings; JSON bodies and query strings are accepted too. Answers use the real envelope
(``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...}``),
and the checks that most often bite a bot in production are enforced the way Telegram does:
empty or over-long texts, unsupported HTML tags, inline buttons without an action, callback
data over 64 bytes, "message is not modified", answering a callback query twice, getUpdates
while a webhook is set, a second concurrent getUpdates, non-HTTPS webhooks, files over 20 MB.

The test drives it with plain Python: ``push_update``, the ``*_update`` builders, ``add_file``,
``fail_next``, ``block``, and reads what the bot did from ``sent``, ``calls``,
``answered_callbacks``, ``commands``, ``webhook`` and ``downloads``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import html
import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

DEFAULT_TOKEN = "123456789:AAFakeTokenForPrivacybotTests_0123456"

MAX_TEXT_LENGTH = 4096  # UTF-16 code units after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)

# Fields whose form value is always a plain string (never JSON-decoded): "123" stays "123".
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "url",
        "secret_token",
        "callback_query_id",
        "file_id",
        "parse_mode",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "ip_address",
        "action",
        "description",
        "short_description",
        "name",
    }
)
_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_DEFAULT_ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class _Described:
    """A result that Telegram sends with a top-level ``description`` (setWebhook etc.)."""

    result: Any
    description: str


@dataclass
class _Failure:
    error_code: int
    retry_after: int | None
    description: str | None


def _error_body(
    code: int, description: str, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _error_response(
    code: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    return web.json_response(_error_body(code, description, parameters), status=code)


def _coerce(key: str, value: Any) -> Any:
    """Form values are strings; Telegram decodes numbers, booleans and JSON objects."""
    if not isinstance(value, str) or key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _coerce(k, v) for k, v in request.query.items()}
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
            else:
                params[key] = _coerce(key, value)
    return params


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_html(text: str) -> str:
    """Best-effort version of Telegram's HTML parser; returns the visible text."""
    stack: list[str] = []
    i = 0
    while (start := text.find("<", i)) != -1:
        offset = len(text[:start].encode())
        end = text.find(">", start)
        if end == -1:
            raise _ApiError(
                400,
                f"Bad Request: can't parse entities: Unclosed start tag at byte offset {offset}",
            )
        inner = text[start + 1 : end].strip()
        closing = inner.startswith("/")
        words = inner.lstrip("/").split()
        name = words[0].lower().rstrip("/") if words else ""
        if name not in _HTML_TAGS:
            kind = "end" if closing else "start"
            raise _ApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported {kind} tag "{name}" at byte '
                f"offset {offset}",
            )
        if closing:
            if not stack or stack[-1] != name:
                expected = f'"</{stack[-1]}>"' if stack else "nothing"
                raise _ApiError(
                    400,
                    f"Bad Request: can't parse entities: Unmatched end tag at byte offset "
                    f'{offset}, expected {expected}, found "</{name}>"',
                )
            stack.pop()
        else:
            stack.append(name)
        i = end + 1
    if stack:
        raise _ApiError(
            400,
            f"Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def _check_text(text: Any, parse_mode: Any) -> str:
    if text is None or str(text) == "":
        raise _ApiError(400, "Bad Request: message text is empty")
    text = str(text)
    visible = _check_html(text) if str(parse_mode or "").upper() == "HTML" else text
    if not visible.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(visible) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    return text


def _check_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _ApiError(
                400,
                'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an '
                "Array of Arrays",
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _ApiError(400, "Bad Request: can't parse inline keyboard button")
                if not _BUTTON_ACTIONS & button.keys():
                    raise _ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: Text buttons are "
                        "unallowed in the inline keyboard",
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Message only ever carries an inline keyboard as its ``reply_markup``."""
    if markup and markup.get("inline_keyboard"):
        return markup
    return None


def _unique_id(file_id: str) -> str:
    return "AgAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]


def _guess_file_path(data: bytes, n: int) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return f"photos/file_{n}.jpg"
    if data.startswith(b"\x89PNG"):
        return f"documents/file_{n}.png"
    if data.startswith(b"%PDF"):
        return f"documents/file_{n}.pdf"
    return f"documents/file_{n}"


class FakeTelegram:
    """Fake Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "privacybot_test_bot",
        bot_first_name: str = "JOVA POS Privasi",
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456789
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.base_url = ""
        self.base_file_url = ""
        self.server_url = ""

        # What the bot did (read these in asserts).
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.poll_conflicts = 0  # long polls ended by another bot instance's getUpdates
        self.sent: list[dict[str, Any]] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] = self._no_webhook()
        self.downloads: list[str] = []

        # World state.
        self.updates: list[dict[str, Any]] = []  # pending, not yet confirmed by an offset
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.blocked_chats: set[int] = set()
        self._files: dict[str, dict[str, Any]] = {}
        self._file_paths: dict[str, str] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._callback_ids: set[str] = set()
        self._answered_ids: set[str] = set()
        self._last_update_id = 100_000
        self._message_ids: dict[int, int] = {}
        self._callback_counter = itertools.count(4_382_000_000_000_000_001)
        self._file_counter = itertools.count()
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None

        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "close": self._ok,
            "logOut": self._ok,
        }
        # Bot API method names are case-insensitive.
        self._methods = {name.lower(): handler for name, handler in handlers.items()}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.server_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.server_url}/bot"
        self.base_file_url = f"{self.server_url}/file/bot"
        return self

    async def stop(self) -> None:
        self._closing = True
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test-side API

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; assigns the next update_id if missing."""
        update = self.stamp(update)
        self._register_callback(update)
        self.updates.append(update)
        self._wake()
        return update["update_id"]

    def stamp(self, update: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``update`` with an update_id (for posting straight to a webhook)."""
        update = dict(update)
        if "update_id" not in update:
            self._last_update_id += 1
            update["update_id"] = self._last_update_id
        else:
            self._last_update_id = max(self._last_update_id, int(update["update_id"]))
        return update

    def user(
        self, user_id: int, language_code: str | None = "id", first_name: str = "Budi"
    ) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": f"user{user_id}",
        }
        if language_code:
            user["language_code"] = language_code
        return user

    def text_update(
        self, chat_id: int, text: str, language_code: str | None = "id", user_id: int | None = None
    ) -> dict[str, Any]:
        """A private-chat text message; ``/commands`` get their bot_command entity."""
        message = self._user_message(chat_id, user_id, language_code)
        message["text"] = text
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(text[:length])}
            ]
        return {"message": message}

    def photo_update(
        self,
        chat_id: int,
        file_id: str,
        *sizes: tuple[int, int] | tuple[int, int, int] | dict[str, Any],
        caption: str | None = None,
        language_code: str | None = "id",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """A photo message. ``sizes`` are (width, height[, file_size]) tuples or PhotoSize
        dicts, smallest first; the last (largest) one carries ``file_id``, the others get
        derived ids. Without a file_size the largest size reports the size of the file
        registered with ``add_file``."""
        specs = sizes or ((90, 90), (320, 320), (1280, 1280))
        photo = []
        for index, spec in enumerate(specs):
            largest = index == len(specs) - 1
            if isinstance(spec, dict):
                size = dict(spec)
                size.setdefault("file_id", file_id if largest else f"{file_id}-{index}")
            else:
                width, height, *rest = spec
                size = {
                    "file_id": file_id if largest else f"{file_id}-{width}x{height}",
                    "width": width,
                    "height": height,
                }
                if rest:
                    size["file_size"] = rest[0]
                elif largest and file_id in self._files:
                    size["file_size"] = self._files[file_id]["file_size"]
            size.setdefault("file_unique_id", _unique_id(size["file_id"]))
            photo.append(size)
        message = self._user_message(chat_id, user_id, language_code)
        message["photo"] = photo
        if caption is not None:
            message["caption"] = caption
        return {"message": message}

    def document_update(
        self,
        chat_id: int,
        file_id: str,
        file_name: str = "ktp.pdf",
        mime_type: str = "application/pdf",
        file_size: int | None = None,
        *,
        caption: str | None = None,
        language_code: str | None = "id",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """A document message; file_size defaults to the size registered with add_file."""
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_name": file_name,
            "mime_type": mime_type,
        }
        if file_size is None and file_id in self._files:
            file_size = self._files[file_id]["file_size"]
        if file_size is not None:
            document["file_size"] = file_size
        message = self._user_message(chat_id, user_id, language_code)
        message["document"] = document
        if caption is not None:
            message["caption"] = caption
        return {"message": message}

    def callback_update(
        self,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        *,
        language_code: str | None = "id",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """A button press on a bot message (default: the bot's latest message in the chat)."""
        if message_id is None:
            own = [
                mid
                for (cid, mid), msg in self.messages.items()
                if cid == chat_id and msg["from"]["id"] == self.bot_id
            ]
            message_id = max(own) if own else None
        if message_id is None or (chat_id, message_id) not in self.messages:
            message = self._bot_message(chat_id, "…", None, message_id=message_id)
        else:
            message = self.messages[(chat_id, message_id)]
        query_id = str(next(self._callback_counter))
        self._callback_ids.add(query_id)
        return {
            "callback_query": {
                "id": query_id,
                "from": self.user(user_id or self._default_user(chat_id), language_code),
                "message": copy.deepcopy(message),
                "chat_instance": str(-8_000_000_000_000_000_000 + abs(chat_id)),
                "data": data,
            }
        }

    def add_file(
        self,
        file_id: str,
        data: bytes,
        file_path: str | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """Make ``file_id`` known to getFile and downloadable. ``file_size`` is what Telegram
        reports (it may lie; the download always serves ``data``). Returns the File dict."""
        path = file_path or _guess_file_path(data, next(self._file_counter))
        entry = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_size": len(data) if file_size is None else file_size,
            "file_path": path,
        }
        self._files[file_id] = {**entry, "data": data}
        self._file_paths[path] = file_id
        return entry

    def fail_next(
        self,
        method: str,
        count: int = 1,
        error_code: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` fail with Telegram's error envelope."""
        queue = self._failures.setdefault(method.lower(), deque())
        for _ in range(count):
            queue.append(_Failure(error_code, retry_after, description))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: sends to ``chat_id`` fail with 403 Forbidden."""
        self.blocked_chats.add(chat_id)

    def commands_for(self, language_code: str = "", scope: str = "default") -> list[dict] | None:
        return self.commands.get((language_code, scope))

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.calls if name.lower() == method.lower()]

    async def wait_for_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` sendMessage/editMessageText calls are recorded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.sent) < count:
            if loop.time() >= deadline:
                texts = [entry.get("text") for entry in self.sent]
                raise TimeoutError(
                    f"expected {count} sent messages within {timeout}s, got {len(self.sent)}: "
                    f"{texts!r}"
                )
            await asyncio.sleep(0.005)
        return list(self.sent)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error_response(401, "Unauthorized")
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            return _error_response(exc.code, exc.description)
        self.calls.append((method, params))
        handler = self._methods.get(method.lower())
        if handler is None:
            return _error_response(404, "Not Found: method not found")
        failure = self._take_failure(method)
        if failure is not None:
            return failure
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error_response(exc.code, exc.description, exc.parameters)
        if isinstance(result, _Described):
            body = {"ok": True, "result": result.result, "description": result.description}
        else:
            body = {"ok": True, "result": result}
        return web.json_response(body)

    async def _handle_file(self, request: web.Request) -> web.Response:
        file_id = self._file_paths.get(request.match_info["file_path"])
        if request.match_info["token"] != self.token or file_id not in self._files:
            return _error_response(404, "Not Found")
        self.downloads.append(request.match_info["file_path"])
        return web.Response(
            body=self._files[file_id]["data"], content_type="application/octet-stream"
        )

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return _error_response(404, "Not Found")

    def _take_failure(self, method: str) -> web.Response | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue.popleft()
        code = failure.error_code
        description = failure.description
        if description is None:
            if code == 429:
                description = f"Too Many Requests: retry after {failure.retry_after}"
            else:
                description = _DEFAULT_ERRORS.get(code, "Error")
        parameters = {"retry_after": failure.retry_after} if code == 429 else None
        return _error_response(code, description, parameters)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ world helpers

    @staticmethod
    def _no_webhook() -> dict[str, Any]:
        return {"url": "", "secret_token": None, "allowed_updates": None, "max_connections": None}

    @staticmethod
    def _default_user(chat_id: int) -> int:
        return chat_id if chat_id > 0 else 555_000_001

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {
                "id": chat_id,
                "type": "private",
                "first_name": "Budi",
                "username": f"user{chat_id}",
            }
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Test group"}

    def _next_message_id(self, chat_id: int, wanted: int | None = None) -> int:
        current = self._message_ids.get(chat_id, 0)
        message_id = wanted if wanted is not None else current + 1
        self._message_ids[chat_id] = max(current, message_id)
        return message_id

    def _user_message(
        self, chat_id: int, user_id: int | None, language_code: str | None
    ) -> dict[str, Any]:
        message = {
            "message_id": self._next_message_id(chat_id),
            "from": self.user(user_id or self._default_user(chat_id), language_code),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        self.messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _bot_message(
        self,
        chat_id: int,
        text: str,
        markup: dict[str, Any] | None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id, message_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if _inline_only(markup):
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _register_callback(self, update: dict[str, Any]) -> None:
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._callback_ids.add(str(query["id"]))

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked_chats:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _own_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return message

    def _record_sent(self, method: str, params: dict[str, Any], message_id: int | None) -> None:
        entry = dict(params)
        entry["method"] = method
        entry["message_id"] = message_id
        self.sent.append(entry)

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise _ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        key = str(scope["type"])
        for field in ("chat_id", "user_id"):
            if field in scope:
                key += f":{scope[field]}"
        return str(params.get("language_code") or ""), key

    # ------------------------------------------------------------------ Bot API methods

    async def _ok(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise _ApiError(409, WEBHOOK_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if offset < 0:
            self.updates = self.updates[offset:]
        elif offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older long poll still waiting is terminated with 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                self.poll_conflicts += 1
                raise _ApiError(409, POLL_CONFLICT)
            if self.webhook["url"]:
                raise _ApiError(409, WEBHOOK_CONFLICT)
            remaining = deadline - loop.time()
            if self.updates or remaining <= 0 or self._closing:
                return copy.deepcopy(self.updates[:limit])
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text = _check_text(params.get("text"), params.get("parse_mode"))
        markup = _check_markup(params)
        message = self._bot_message(chat_id, text, markup)
        self._record_sent("sendMessage", params, message["message_id"])
        return copy.deepcopy(message)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = _check_text(params.get("text"), params.get("parse_mode"))
        markup = _inline_only(_check_markup(params))
        if params.get("inline_message_id"):
            self._record_sent("editMessageText", params, None)
            return True
        message = self._own_message(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        self._record_sent("editMessageText", params, message["message_id"])
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = _inline_only(_check_markup(params))
        if params.get("inline_message_id"):
            return True
        message = self._own_message(params)
        if message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return copy.deepcopy(message)

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._callback_ids or query_id in self._answered_ids:
            raise _ApiError(400, QUERY_INVALID)
        self._answered_ids.add(query_id)
        self.answered_callbacks.append(dict(params))
        return True

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat_id(params)
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self._files.get(str(params.get("file_id") or ""))
        if file is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if file["file_size"] > MAX_DOWNLOAD_SIZE:
            raise _ApiError(400, "Bad Request: file is too big")
        return {key: file[key] for key in ("file_id", "file_unique_id", "file_size", "file_path")}

    async def _set_webhook(self, params: dict[str, Any]) -> _Described:
        url = str(params.get("url") or "")
        if not url:
            was_set = bool(self.webhook["url"])
            self.webhook = self._no_webhook()
            return _Described(
                True, "Webhook was deleted" if was_set else "Webhook is already deleted"
            )
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if parts.port not in (None, 80, 88, 443, 8443):
            raise _ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self.updates.clear()
        same = self.webhook["url"] == url
        self.webhook = {
            "url": url,
            "secret_token": None if secret is None else str(secret),
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections", 40),
            "ip_address": params.get("ip_address"),
            "has_custom_certificate": "certificate" in params,
        }
        self._wake()
        return _Described(True, "Webhook is already set" if same else "Webhook was set")

    async def _delete_webhook(self, params: dict[str, Any]) -> _Described:
        was_set = bool(self.webhook["url"])
        self.webhook = self._no_webhook()
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return _Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": bool(self.webhook.get("has_custom_certificate")),
            "pending_update_count": len(self.updates),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"] is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.webhook["ip_address"]:
                info["ip_address"] = self.webhook["ip_address"]
        return info

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise _ApiError(400, "Bad Request: too many commands")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(
                str(command.get("command", ""))
            ):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A running FakeTelegram with DEFAULT_TOKEN (import it into a conftest to use it)."""
    async with FakeTelegram() as tg:
        yield tg

"""Telegram through python-telegram-bot's ``Application``, in the server's loop.

Long polling by default; with ``TELEGRAM_WEBHOOK_URL`` set, Telegram posts
updates to ``/webhooks/telegram`` instead, and requests without the secret
token header are refused. Either way an update is acknowledged to Telegram
only after it was handled and its replies sent: the webhook answers after
the work, and the polling loop (ours, not PTB's ``Updater``, which confirms
updates as soon as it has fetched them) advances its offset only then. A
crash in between makes Telegram deliver the update again; its ``update_id``
is the message id, so the engine does the work once and only replies never
marked sent go out. Quick answers become inline keyboard buttons whose
callback data names the state they were offered in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeDefault,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.conversation.engine import ForeignRepeat
from bot.core import Core
from bot.delivery.channels import ChannelAdapter, DeliveryRefused, PartialDelivery, Sent
from bot.domain.models import Channel, InboundFile, InboundMessage, OutboundMessage
from bot.infra.packing import pack, utf16_length
from bot.store import StoreError

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096  # Telegram's limit, in UTF-16 code units
BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API will not serve larger files
SEND_ATTEMPTS = 4
CALLBACK_SEPARATOR = "|"
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 10  # seconds a getUpdates call may wait for news
# Telegram answers a second concurrent getUpdates with 409 Conflict, so when
# several servers share one database one of them polls: the holder of this
# lease, renewed before each getUpdates. A standby asks again every
# STANDBY_SECONDS and takes over once a holder stopped renewing it (killed:
# after POLL_LEASE_SECONDS; stopped cleanly: at once).
POLL_LEASE = "telegram-polling"
POLL_LEASE_SECONDS = 60
STANDBY_SECONDS = 5.0
UPDATE_ATTEMPTS = 5  # then the update is skipped, so one bad update cannot stall the bot

COMMANDS = {
    "id": [
        ("start", "Mulai dan tampilkan menu"),
        ("status", "Cek status permintaan"),
        ("bantuan", "Bantuan untuk langkah ini"),
        ("staf", "Bicara dengan staf"),
        ("batal", "Batalkan permintaan yang sedang diisi"),
    ],
    "en": [
        ("start", "Start and show the menu"),
        ("status", "Check the status of a request"),
        ("help", "Help with this step"),
        ("staff", "Talk to staff"),
        ("cancel", "Cancel the request being filled in"),
    ],
}


def _fits(text: str) -> bool:
    return utf16_length(text) <= MAX_TEXT


class TelegramAdapter(ChannelAdapter):
    name = "telegram"
    channels = (Channel.TELEGRAM,)

    def __init__(self, core: Core) -> None:
        settings = core.settings
        self.core = core
        self.webhook_url = settings.telegram_webhook_url
        # A webhook is always protected: without a configured secret, use a fresh one.
        self.secret = settings.telegram_webhook_secret or secrets.token_urlsafe(32)
        builder = (
            Application.builder()
            .token(settings.telegram_bot_token)
            .base_url(settings.telegram_api_base_url)
            .base_file_url(settings.telegram_file_base_url)
        )
        self.application = builder.updater(None).build()
        self._poller: asyncio.Task[None] | None = None
        self.standby_seconds = STANDBY_SECONDS

    @property
    def bot(self) -> Bot:
        return self.application.bot

    def routes(self) -> list[BaseRoute]:
        if not self.webhook_url:
            return []
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])]

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "mode": "webhook" if self.webhook_url else "polling",
            "staff_group": self.alerts_staff,
        }

    @property
    def alerts_staff(self) -> bool:
        return bool(self.core.settings.telegram_staff_chat_id)

    async def alert_staff(self, text: str, link: str) -> None:
        """Post to the staff group (TELEGRAM_STAFF_CHAT_ID; the bot must be a member)
        with a button that opens the chat in the console."""
        # Telegram accepts only public https addresses in buttons; the text has the link too.
        button = (
            InlineKeyboardMarkup([[InlineKeyboardButton("Console", url=link)]])
            if link.startswith("https://")
            else None
        )
        await self._send_message(int(self.core.settings.telegram_staff_chat_id), text, button)

    async def start(self) -> None:
        await self.application.initialize()
        await self._register_commands()
        if self.webhook_url:
            await self.bot.set_webhook(
                self.webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES
            )
        else:
            await self.bot.delete_webhook()  # polling and a webhook exclude each other
        await self.application.start()
        if not self.webhook_url:
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            with contextlib.suppress(StoreError):
                await self.core.release(POLL_LEASE)
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def _register_commands(self) -> None:
        try:
            for language, commands in COMMANDS.items():
                await self.bot.set_my_commands(
                    [BotCommand(c, d) for c, d in commands],
                    scope=BotCommandScopeDefault(),
                    language_code=language,
                )
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["id"]])
        except TelegramError as exc:  # the bot still works without the command menu
            log.warning("could not register Telegram commands: %s", type(exc).__name__)

    # inbound ------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("rejected a Telegram webhook without the secret token")
            return Response("forbidden", status_code=403)
        try:
            data = json.loads(await request.body())
            update = Update.de_json(data, self.bot) if isinstance(data, dict) else None
        except Exception:  # whatever shape it has, it is not an update
            update = None
        if update is None or not isinstance(update.update_id, int):
            return Response("malformed update", status_code=400)
        try:
            await self._process(update)
        except DeliveryRefused as exc:  # for good (blocked...): a retry cannot help
            log.warning("a Telegram reply cannot be delivered (%s); moving on", exc)
        except (StoreError, TelegramError) as exc:
            # Ours or Telegram's to outlast: not acknowledged, so Telegram delivers
            # it again, and nothing is done twice.
            log.error("handling a Telegram update failed: %s", type(exc).__name__)
            return Response("try again", status_code=503)
        except Exception as exc:
            log.error("handling a Telegram update failed: %s", type(exc).__name__)
            return Response("try again", status_code=500)
        return Response(status_code=200)

    async def _poll(self) -> None:
        """Long polling that confirms an update (by asking for the next offset)
        only once it has been handled."""
        offset: int | None = None
        failures = 0
        standing_by = False
        while True:
            try:
                mine = await self.core.hold(POLL_LEASE, POLL_LEASE_SECONDS)
            except StoreError as exc:  # nothing could be handled now anyway
                log.error("database unavailable for Telegram polling: %s", type(exc).__name__)
                await asyncio.sleep(self.standby_seconds)
                continue
            if not mine:
                if not standing_by:
                    log.info("Telegram long polling runs in another instance; this one stands by")
                standing_by = True
                offset = None  # the holder confirms what it handled
                await asyncio.sleep(self.standby_seconds)
                continue
            if standing_by:
                log.info("Telegram long polling taken over by this instance")
                standing_by = False
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except TelegramError as exc:
                log.warning("Telegram polling failed: %s", type(exc).__name__)
                await asyncio.sleep(min(2**failures, 30))
                failures = min(failures + 1, 5)
                continue
            failures = 0
            for update in updates:
                await self._process_until_done(update)
                offset = update.update_id + 1

    async def _process_until_done(self, update: Update) -> None:
        """Retry an update while the failure is ours to outlast (the database
        busy or down): giving up would lose a customer's message. Only an update
        that fails for another reason, repeatedly, is skipped."""
        attempt = 0
        while True:
            try:
                await self._process(update)
                return
            except DeliveryRefused as exc:
                log.warning("a Telegram reply cannot be delivered (%s); moving on", exc)
                return
            except StoreError as exc:
                log.error("database unavailable for a Telegram update: %s", exc.__class__.__name__)
            except Exception as exc:
                attempt += 1
                log.error(
                    "handling Telegram update %s failed (attempt %d): %s",
                    update.update_id,
                    attempt,
                    type(exc).__name__,
                )
                if attempt >= UPDATE_ATTEMPTS:
                    return
            await asyncio.sleep(min(2 ** min(attempt, 5), 30))

    async def _process(self, update: Update) -> None:
        """Handle one update; one that is malformed (Telegram never sends such)
        or reuses another chat's message id is logged and dropped, not retried."""
        try:
            message = await self._inbound(update)
            if message is None:
                return
            replies = await self.core.engine.handle(message)
        except (MalformedUpdate, ForeignRepeat) as exc:
            log.warning("Telegram update %s dropped: %s", update.update_id, type(exc).__name__)
            return
        await self.core.channels.send(self, replies)  # the core records what went

    async def _inbound(self, update: Update) -> InboundMessage | None:
        query = update.callback_query
        if query is not None:
            with contextlib.suppress(TelegramError):  # the press counts even so
                await query.answer()
            if query.message is None or not query.data or not _private(query.message.chat):
                return None
            _check_chat(query.message.chat)
            state, _, value = query.data.partition(CALLBACK_SEPARATOR)
            return InboundMessage(
                channel=Channel.TELEGRAM,
                address=str(query.message.chat.id),
                # Callback ids are unique; update ids repeat after a quiet week.
                message_id=f"callback:{query.id}",
                text=value,
                language_hint=query.from_user.language_code if query.from_user else None,
                expected_state=state or None,
            )
        message = update.message
        if message is None:
            return None
        _check_chat(message.chat)
        if not _private(message.chat):
            return None  # privacy requests are one-to-one: groups would expose them
        return InboundMessage(
            channel=Channel.TELEGRAM,
            address=str(message.chat.id),
            message_id=f"message:{message.chat.id}:{message.message_id}",
            text=message.text or message.caption or "",
            files=await self._files(message),
            language_hint=message.from_user.language_code if message.from_user else None,
        )

    async def _files(self, message: Message) -> tuple[InboundFile, ...]:
        if message.photo:
            attachment: Any = message.photo[-1]  # the largest size
            name = "photo.jpg"
        elif message.document is not None:
            attachment = message.document
            name = message.document.file_name or "document"
        else:
            return ()
        chat = str(message.chat.id)
        limit = self.core.settings.max_attachment_bytes
        size = attachment.file_size or 0
        if not await self.core.engine.expects_file(Channel.TELEGRAM, chat):
            return (InboundFile(b"", 0, name, fetched=False),)  # not needed: not fetched
        if size > min(limit, BOT_DOWNLOAD_LIMIT):
            # Refused as too large without downloading (the Bot API cannot serve
            # over 20 MB even when our own limit is set higher).
            return (InboundFile(b"", max(size, limit + 1), name),)
        try:
            file = await attachment.get_file()
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("Telegram file download failed: %s", type(exc).__name__)
            return (InboundFile(b"", 0, name, fetched=False),)
        return (InboundFile(data[: limit + 1], len(data), name),)

    # outbound -----------------------------------------------------------

    async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
        """Send the replies in order; buttons under the last part of a reply
        that offers them. A reply counts as sent once its last part left, with
        that message's id."""
        sent: list[Sent] = []
        for reply in replies:
            parts = [body.text for body in pack([reply.text], _fits)]
            markup = _keyboard(reply)
            message_id = None
            try:
                for i, part in enumerate(parts):
                    last = i == len(parts) - 1
                    message = await self._send_message(
                        int(reply.address), part, markup if last else None
                    )
                    message_id = message.message_id
            except Exception as exc:
                if sent:  # those left: the core records them, then handles ``exc``
                    raise PartialDelivery(sent, exc) from exc
                raise
            sent.append(Sent(reply, None if message_id is None else str(message_id)))
        return sent

    async def _send_message(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> Message:
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await self.bot.send_message(chat_id, text, reply_markup=markup)
            except RetryAfter as exc:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(_seconds(exc.retry_after))  # what Telegram asks
            except (Forbidden, BadRequest) as exc:
                # Permanent (blocked by the customer, chat gone): retrying cannot help.
                raise DeliveryRefused(type(exc).__name__) from exc
        raise AssertionError("unreachable")


class MalformedUpdate(Exception):
    """An update Telegram never sends (a message without a chat, a chat id
    that is not an integer): dropped, since retrying it cannot help."""


def _check_chat(chat: Chat | None) -> None:
    # bool is an int to Python, not to Telegram.
    if not isinstance(chat, Chat) or type(chat.id) is not int:
        raise MalformedUpdate("chat")


def _private(chat: Chat | None) -> bool:
    return chat is not None and chat.type == ChatType.PRIVATE


def _seconds(wait: int | timedelta) -> float:
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def _keyboard(reply: OutboundMessage) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    rows = [
        [InlineKeyboardButton(label, callback_data=_callback(reply.state, value))]
        for label, value in reply.buttons
    ]
    return InlineKeyboardMarkup(rows)


def _callback(state: str, value: str) -> str:
    data = f"{state}{CALLBACK_SEPARATOR}{value}"
    # Telegram allows 64 bytes; states and values are short, but never fail on it.
    return data if len(data.encode()) <= 64 else f"{CALLBACK_SEPARATOR}{value}"[:64]

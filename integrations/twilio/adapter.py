"""WhatsApp and SMS through Twilio: signed webhooks in, TwiML and REST out.

Inbound messages are answered inline with TwiML (``MessagingResponse``), each
``<Message>`` carrying a status callback that names our reply rows, so the
delivery reports Twilio sends later land on the right rows. Messages the bot
starts itself go through the REST API with the same callback.

Media: only files the conversation can use now (ID proof) are downloaded,
and only from Twilio's API host (the origin of ``TWILIO_API_BASE_URL``), the
one place the account's credentials are sent: a ``MediaUrlN`` naming any
other host is not requested at all (the customer is asked for the file
again). Twilio answers with a redirect to its CDN, which is followed without
credentials. After the message is handled the media is deleted from Twilio
so an ID card does not stay there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from itertools import groupby
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bot.conversation.engine import ForeignRepeat
from bot.core import Core
from bot.delivery.channels import (
    ChannelAdapter,
    DeliveryRefused,
    PartialDelivery,
    Sent,
    opted_out,
)
from bot.delivery.reports import delivery_report
from bot.domain.models import Channel, Control, InboundFile, InboundMessage, OutboundMessage
from bot.infra.packing import pack
from bot.store import StoreError
from integrations.twilio.http import RebasedHttpClient
from integrations.twilio.text import fits_sms, fits_whatsapp

log = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"
MEDIA_TIMEOUT = 8.0  # seconds for one download's connect/read steps
MEDIA_BUDGET = 9.0  # seconds for all downloads of one message: Twilio waits 15 in all
MAX_STATUS_IDS = 50  # reply ids one status callback may name (a message carries a few)
STATUS_ID_DIGITS = 18  # SQLite integers stop at 2**63 - 1 (19 digits)
OPT_OUT_WORDS = {"STOP", "BERHENTI", "UNSUBSCRIBE"}
OPT_IN_WORDS = {"START"}
WHATSAPP_PREFIX = "whatsapp:"


class RateLimited(Exception):
    """Twilio answered 429; ``retry_after`` is its Retry-After, when it gave one."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"rate limited (retry after {retry_after})")
        self.retry_after = retry_after


class TwilioAdapter(ChannelAdapter):
    name = "twilio"
    channels = (Channel.WHATSAPP, Channel.SMS)

    def __init__(self, core: Core) -> None:
        settings = core.settings
        self.core = core
        self.public_url = settings.public_url.rstrip("/")
        self.account_sid = settings.twilio_account_sid
        self.auth_token = settings.twilio_auth_token
        self.numbers = {
            Channel.WHATSAPP: settings.twilio_whatsapp_number,
            Channel.SMS: settings.twilio_sms_number,
        }
        self.validator = RequestValidator(settings.twilio_auth_token)
        self.http = RebasedHttpClient(settings.twilio_api_base_url)
        self.client = Client(self.account_sid, self.auth_token, http_client=self.http)
        self.media_http = httpx.AsyncClient(timeout=MEDIA_TIMEOUT)
        self.api_origin = _origin(settings.twilio_api_base_url)
        self._background: set[asyncio.Task[None]] = set()

    def routes(self) -> list[BaseRoute]:
        return [
            Route(INBOUND_PATH, self.inbound, methods=["POST"]),
            Route(STATUS_PATH, self.delivery_status, methods=["POST"]),
        ]

    async def stop(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        await self.http.aclose()
        await self.media_http.aclose()

    def status(self) -> dict[str, Any]:
        return {"enabled": True}

    # inbound ------------------------------------------------------------

    async def inbound(self, request: Request) -> Response:
        params = await self._verified(request)
        if isinstance(params, Response):
            return params
        sid = params.get("MessageSid") or params.get("SmsMessageSid")
        sender = params.get("From", "")
        if not sid or not sender:
            return Response("MessageSid and From are required", status_code=400)
        channel = Channel.WHATSAPP if sender.startswith(WHATSAPP_PREFIX) else Channel.SMS
        address = sender.removeprefix(WHATSAPP_PREFIX)
        try:
            twiml, carried = await self._answer(params, sid, channel, address)
            # The core records them sent before Twilio has the answer: a
            # repeated webhook gets the same answer and nothing is sent twice.
            await self.core.channels.answered(carried)
        except ForeignRepeat:  # logged by the engine, without either number
            return Response("MessageSid already used by another sender", status_code=400)
        except StoreError as exc:  # transient (locked too long): Twilio may retry
            log.error("message not handled, database unavailable: %s", type(exc).__name__)
            return Response("try again", status_code=503, headers={"Retry-After": "5"})
        return Response(twiml, media_type="application/xml")

    async def _answer(
        self, params: dict[str, str], sid: str, channel: Channel, address: str
    ) -> tuple[str, list[OutboundMessage]]:
        """The TwiML answering one message, and the replies it carries."""
        engine = self.core.engine
        media = _media_items(params)
        if media:  # before downloading: a repeat needs no download (a text's repeat
            # is found in the message's own transaction, by ``engine.handle``)
            recorded = await engine.recorded_replies(channel, address, sid)
            if recorded is not None:  # a repeated delivery: the same answer, no new work
                return self._twiml(recorded, channel)

        body = params.get("Body", "")
        control, quiet = _control(params, body)
        if (
            control is Control.OPT_IN
            and not quiet
            and not await opted_out(self.core.services, channel, address)
        ):
            control = None  # a first "start" is a greeting: show the menu
        files: list[InboundFile] = []
        done_with: list[str] = []  # media to delete from Twilio afterwards
        if media and control is None and await engine.expects_file(channel, address):
            try:
                # One budget for all downloads: the answer must reach Twilio in 15 s.
                async with asyncio.timeout(MEDIA_BUDGET):
                    for url, _ in media:
                        file = await self._fetch(url)
                        files.append(file)
                        if file.fetched:
                            done_with.append(url)
            except TimeoutError:
                log.warning("media downloads took too long; asking for the file again")
            files += [InboundFile(b"", 0, fetched=False)] * (len(media) - len(files))
        elif media:
            # Not needed now: say so without downloading it, and do not keep it.
            files = [InboundFile(b"", 0, fetched=False) for _ in media]
            done_with = [url for url, _ in media if self._api_url(url) is not None]
        replies = await engine.handle(
            InboundMessage(
                channel=channel,
                address=address,
                message_id=sid,
                text=body,
                files=tuple(files),
                control=control,
                quiet=quiet,
            ),
            answered=True,
        )
        for url in done_with:  # after answering: it need not delay the reply
            task = asyncio.create_task(self._delete_media(url))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return self._twiml(replies, channel)

    async def delivery_status(self, request: Request) -> Response:
        params = await self._verified(request)
        if isinstance(params, Response):
            return params
        sid = params.get("MessageSid") or params.get("SmsSid")
        state = params.get("MessageStatus") or params.get("SmsStatus")
        if not sid or not state:
            return Response("MessageSid and MessageStatus are required", status_code=400)
        error = params.get("ErrorCode") or None
        ids = _reply_ids(request.query_params.get("o", ""))
        if ids is None:
            return Response("o: at most 50 reply ids, digits only", status_code=400)
        on = Channel.WHATSAPP if params.get("To", "").startswith(WHATSAPP_PREFIX) else Channel.SMS
        await delivery_report(self.core.services, self.core.channels, sid, state, error, ids, on)
        return Response(status_code=204)

    async def _verified(self, request: Request) -> dict[str, str] | Response:
        """The webhook's form, or the error response: 403 unsigned or wrongly
        signed, 400 malformed (413 for size is handled before we get here)."""
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return Response("missing signature", status_code=403)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return Response("expected a form", status_code=400)
        raw = await request.body()
        try:
            params = dict(
                parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
            )
        except (UnicodeDecodeError, ValueError):
            return Response("malformed form", status_code=400)
        # The URL Twilio signed: ours, with the path and query as received
        # (read from the ASGI scope: building Starlette's URL costs more).
        scope = request.scope
        url = self.public_url + scope.get("root_path", "") + scope["path"]
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        if not self.validator.validate(url, params, signature):
            log.warning("rejected a Twilio webhook with a wrong signature")
            return Response("invalid signature", status_code=403)
        return params

    # media --------------------------------------------------------------

    def _api_url(self, url: str) -> httpx.URL | None:
        """``url`` (rebased) if it is on Twilio's API host, else None: the
        account's credentials go nowhere else, whatever a webhook names."""
        try:
            parsed = httpx.URL(self.http.rebase(url))
            if parsed.userinfo or _origin(parsed) != self.api_origin:
                return None
        except (httpx.InvalidURL, ValueError):  # IDNA errors are ValueErrors too
            return None
        return parsed

    async def _fetch(self, url: str) -> InboundFile:
        """Download one media item, reading at most one byte past the limit:
        with credentials from the API host only, its redirect without them."""
        target = self._api_url(url)
        if target is None:
            log.warning("media URL not on Twilio's API host; asking for the file again")
            return InboundFile(b"", 0, fetched=False)
        try:
            async with self.media_http.stream(
                "GET", target, auth=(self.account_sid, self.auth_token)
            ) as response:
                if not response.is_redirect:
                    return await self._read(response)
                location = response.url.join(response.headers["location"])
            async with self.media_http.stream("GET", location, follow_redirects=True) as response:
                return await self._read(response)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            log.warning("media download failed: %s", type(exc).__name__)
            return InboundFile(b"", 0, fetched=False)

    async def _read(self, response: httpx.Response) -> InboundFile:
        limit = self.core.settings.max_attachment_bytes
        if response.status_code != 200:
            log.warning("media download failed with HTTP %s", response.status_code)
            return InboundFile(b"", 0, fetched=False)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return InboundFile(b"", int(declared))
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data.extend(chunk)
            if len(data) > limit:
                break
        return InboundFile(bytes(data[: limit + 1]), len(data))

    async def _delete_media(self, url: str) -> None:
        """Remove the media from Twilio once we hold (or declined) it."""
        parts = url.rstrip("/").split("/")
        try:
            message_sid, media_sid = parts[parts.index("Messages") + 1], parts[-1]
            await (
                self.client.api.v2010.accounts(self.account_sid)
                .messages(message_sid)
                .media(media_sid.removesuffix(".json"))
                .delete_async()
            )
        except (ValueError, IndexError, TwilioException, httpx.HTTPError) as exc:
            log.warning("could not delete media from Twilio: %s", type(exc).__name__)

    # outbound -----------------------------------------------------------

    def _status_url(self, replies: Sequence[OutboundMessage]) -> str:
        ids = ",".join(str(r.id) for r in replies if r.id is not None)
        return f"{self.public_url}{STATUS_PATH}" + (f"?o={ids}" if ids else "")

    def _twiml(
        self, replies: Sequence[OutboundMessage], channel: Channel
    ) -> tuple[str, list[OutboundMessage]]:
        """TwiML carrying ``replies`` (all of them, sent or not: a repeated
        webhook gets the same answer), and those replies."""
        response = MessagingResponse()
        fits = fits_whatsapp if channel is Channel.WHATSAPP else fits_sms
        for body in pack([r.text for r in replies], fits):
            carried = [replies[i] for i in body.replies]
            response.message(body.text, action=self._status_url(carried))
        return str(response), list(replies)

    async def send_template(
        self,
        address: str,
        template: str,
        variables: dict[str, str],
        carries: OutboundMessage | None = None,
    ) -> str | None:
        """A WhatsApp template (Content SID) with positional variables; its SID,
        so a failed delivery report can move the notification on."""
        message = await self._create(
            to=f"{WHATSAPP_PREFIX}{address}",
            from_=self.numbers[Channel.WHATSAPP],
            content_sid=template,
            content_variables=json.dumps(variables, ensure_ascii=False),
            status_callback=self._status_url([carries] if carries else []),
        )
        return message.sid

    async def _create(self, **params: Any) -> Any:
        """One message through the REST API, Twilio's refusals told apart: 429
        (with its Retry-After) is worth a retry; another 4xx is not (e.g. 21610
        the number opted out, 21211 an invalid number)."""
        try:
            return await self.client.messages.create_async(**params)
        except TwilioRestException as exc:
            if exc.status == 429:
                raise RateLimited(self.http.last_retry_after) from exc
            if 400 <= exc.status < 500:
                raise DeliveryRefused(f"Twilio {exc.status}/{exc.code}") from exc
            raise

    async def send(self, replies: Sequence[OutboundMessage]) -> list[Sent]:
        """Send through the REST API, one customer at a time, fewest messages.
        A reply counts as sent once its last part left (a long one takes
        several messages), with that message's SID."""
        sent: list[Sent] = []
        try:
            for group in _by_customer(replies):
                await self._send_to_one(group, sent)
        except Exception as exc:
            if sent:  # those left: the core records them, then handles ``exc``
                raise PartialDelivery(sent, exc) from exc
            raise
        return sent

    async def _send_to_one(self, items: list[OutboundMessage], sent: list[Sent]) -> None:
        """One customer's replies, each added to ``sent`` once its last part left."""
        channel, address = items[0].channel, items[0].address
        sender = self.numbers[channel]
        if not sender:
            raise RuntimeError(f"no Twilio number configured for {channel.value}")
        to = f"{WHATSAPP_PREFIX}{address}" if channel is Channel.WHATSAPP else address
        fits = fits_whatsapp if channel is Channel.WHATSAPP else fits_sms
        bodies = pack([r.text for r in items], fits)
        last_part = {i: n for n, body in enumerate(bodies) for i in body.replies}
        for n, body in enumerate(bodies):
            carried = [items[i] for i in body.replies]
            message = await self._create(
                to=to, from_=sender, body=body.text, status_callback=self._status_url(carried)
            )
            sent.extend(Sent(items[i], message.sid) for i in body.replies if last_part[i] == n)


def _by_customer(replies: Sequence[OutboundMessage]) -> list[list[OutboundMessage]]:
    """The replies by channel and number, in their order within each."""

    def key(r: OutboundMessage) -> tuple[str, str]:
        return (r.channel.value, r.address)

    return [list(group) for _, group in groupby(sorted(replies, key=key), key=key)]


def _control(params: dict[str, str], body: str) -> tuple[Control | None, bool]:
    """Opt-out/opt-in: Twilio's own verdict (it has answered) or our keywords."""
    opt = params.get("OptOutType", "").upper()
    if opt == "STOP":
        return Control.OPT_OUT, True
    if opt == "START":
        return Control.OPT_IN, True
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return Control.OPT_OUT, False
    if word in OPT_IN_WORDS:
        return Control.OPT_IN, False
    return None, False


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    # The host as sent (``raw_host``): decoding IDNA can fail, and is not needed.
    return parsed.scheme, parsed.raw_host.decode("ascii", "replace").lower(), port


def _reply_ids(value: str) -> list[int] | None:
    """The reply ids a status callback URL names (we wrote them: ``o=12,13``);
    None when malformed (too many, not ASCII digits, past SQLite's integers)."""
    parts = [p for p in value.split(",") if p] if value else []
    if len(parts) > MAX_STATUS_IDS or not all(
        p.isascii() and p.isdigit() and len(p) <= STATUS_ID_DIGITS for p in parts
    ):
        return None
    return [int(p) for p in parts]


def _media_items(params: dict[str, str]) -> list[tuple[str, str]]:
    try:
        count = min(int(params.get("NumMedia", "0") or 0), 10)
    except ValueError:
        count = 0
    items = []
    for i in range(count):
        url = params.get(f"MediaUrl{i}")
        if url:
            items.append((url, params.get(f"MediaContentType{i}", "")))
    return items

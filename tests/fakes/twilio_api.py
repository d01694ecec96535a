"""A local fake of the Twilio REST API (Messages, Media) and of Twilio's media CDN.

Two aiohttp servers on 127.0.0.1 (free ports), started inside the running event loop::

    async with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as tw:
        ...  # the official client, with an HTTP client that maps https://api.twilio.com
        ...  # to tw.base_url, sends requests here with their real paths

REST calls need HTTP Basic auth ``account_sid:auth_token`` (else 401 with Twilio's JSON error,
code 20003). ``POST .../Messages.json`` answers 201 with a Message resource and applies the
validations that matter for a bot (To/From/Body required, 1600-character body limit, WhatsApp
and SMS addresses not mixed). A media URL (``add_media`` returns one; put it in an inbound
webhook's MediaUrl0) answers an authenticated GET with ``307 Temporary Redirect`` to a second
server, the "CDN", which serves the bytes from a pre-signed-looking URL, records every request
in ``cdn_requests`` and, like S3 with a pre-signed URL, rejects a request that still carries an
``Authorization`` header (400 InvalidArgument). ``DELETE .../Media/{sid}.json`` answers 204.

Module helpers build what Twilio would POST to our webhooks: ``inbound_params`` (the form),
``status_params`` (a status callback) and ``signed_form`` (the X-Twilio-Signature headers).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict, MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fake_auth_token_0123456789abcdef"
API_VERSION = "2010-04-01"
MAX_BODY = 1600

_ERRORS = {
    400: (21604, "A 'To' phone number is required."),
    401: (20003, "Authenticate"),
    403: (20403, "Forbidden"),
    404: (20404, "The requested resource was not found"),
    405: (20004, "Method not allowed"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
}

_MESSAGES = re.compile(r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json")
_MESSAGE = re.compile(r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<msid>[^/.]+)\.json")
_MEDIA = re.compile(
    r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<msid>[^/.]+)"
    r"/Media/(?P<mid>[^/.]+)(?P<json>\.json)?"
)
_MEDIA_SID = re.compile(r"/Messages/(?P<msid>[A-Z]{2}[0-9a-f]{32})/Media/")

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")
_COUNTRIES = {"+62": "ID", "+1": "US", "+44": "GB", "+65": "SG", "+60": "MY"}


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits (SM, MM, ME, AC ...)."""
    return prefix + secrets.token_hex(16)


def num_segments(body: str) -> int:
    """SMS segments as Twilio counts them (GSM-7: 160/153, otherwise UCS-2: 70/67)."""
    if not body:
        return 1
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def _rfc2822(moment: datetime | None = None) -> str:
    return format_datetime(moment or datetime.now(UTC))


def _error_json(status: int, code: int | None = None, message: str | None = None) -> dict:
    default_code, default_message = _ERRORS.get(status, (20500, "Error"))
    code = code or default_code
    return {
        "code": code,
        "message": message or default_message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _error_response(
    status: int,
    code: int | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(_error_json(status, code, message), status=status, headers=headers)


def _form_dict(form: Mapping[str, Any]) -> dict[str, Any]:
    """A form as a dict; repeated fields (MediaUrl) become lists."""
    result: dict[str, Any] = {}
    for key in form:
        values = form.getall(key)  # type: ignore[attr-defined]
        result[key] = values if len(values) > 1 else values[0]
    return result


def _channel(address: str) -> str:
    return address.split(":", 1)[0] if ":" in address else "sms"


def _country(number: str) -> str:
    for prefix, country in sorted(_COUNTRIES.items(), key=lambda kv: -len(kv[0])):
        if number.startswith(prefix):
            return country
    return ""


def _message_type(content_type: str) -> str:
    kind = content_type.split("/", 1)[0]
    return kind if kind in ("image", "video", "audio") else "document"


def inbound_params(
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    media: Iterable[str | tuple[str, str]] = (),
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    profile_name: str = "Budi Santoso",
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form Twilio POSTs to an incoming-message webhook (SMS/MMS or ``whatsapp:``).

    ``media`` items are media URLs (content type image/jpeg) or (url, content_type) pairs;
    without ``message_sid`` the MM... SID is taken from the first media URL. Empty-valued
    fields (FromCity, ...) are included on purpose: they are part of the signature.
    """
    items = [(m, "image/jpeg") if isinstance(m, str) else (m[0], m[1]) for m in media]
    if message_sid is None:
        found = [m.group("msid") for url, _ in items if (m := _MEDIA_SID.search(url))]
        message_sid = found[0] if found else new_sid("MM" if items else "SM")
    params: dict[str, str] = {}
    whatsapp = from_.startswith("whatsapp:")
    if not whatsapp:
        number, own = from_, to
        params.update(
            {
                "ToCountry": _country(own),
                "ToState": "",
                "ToCity": "",
                "ToZip": "",
                "FromCountry": _country(number),
                "FromState": "",
                "FromCity": "",
                "FromZip": "",
            }
        )
    params.update(
        {
            "SmsMessageSid": message_sid,
            "NumMedia": str(len(items)),
            "SmsSid": message_sid,
            "SmsStatus": "received",
            "Body": body,
            "To": to,
            "NumSegments": "1" if whatsapp else str(num_segments(body)),
            "MessageSid": message_sid,
            "AccountSid": account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
    )
    if whatsapp:
        params["ProfileName"] = profile_name
        params["WaId"] = re.sub(r"\D", "", from_)
        params["MessageType"] = _message_type(items[0][1]) if items else "text"
        params["ReferralNumMedia"] = "0"
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    for index, (url, content_type) in enumerate(items):
        params[f"MediaContentType{index}"] = content_type
        params[f"MediaUrl{index}"] = url
    return params


def status_params(
    message: Mapping[str, Any],
    status: str = "delivered",
    *,
    error_code: int | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> dict[str, str]:
    """The form Twilio POSTs to a message's StatusCallback (``message`` as in ``messages``)."""
    params = {
        "SmsSid": message["sid"],
        "SmsStatus": status,
        "MessageStatus": status,
        "To": message["to"],
        "MessageSid": message["sid"],
        "AccountSid": account_sid,
        "From": message["from"],
        "ApiVersion": API_VERSION,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def signed_form(url: str, params: Mapping[str, str], auth_token: str) -> dict[str, str]:
    """Headers for POSTing ``params`` to ``url`` exactly as Twilio signs a webhook."""
    signature = RequestValidator(auth_token).compute_signature(url, dict(params))
    return {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


class FakeTwilio:
    """Fake Twilio REST API plus media CDN; see the module docstring."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        media_requires_auth: bool = True,
        cdn_rejects_authorization: bool = True,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.media_requires_auth = media_requires_auth
        self.cdn_rejects_authorization = cdn_rejects_authorization
        self.base_url = ""
        self.cdn_url = ""

        self.messages: list[dict[str, Any]] = []  # accepted Messages.json creates
        self.requests: list[dict[str, Any]] = []  # every REST request, failed ones too
        self.cdn_requests: list[dict[str, Any]] = []
        self.deleted_media: list[tuple[str, str]] = []

        self._resources: dict[str, dict[str, Any]] = {}
        self._media: dict[tuple[str, str], dict[str, Any]] = {}
        self._cdn: dict[str, tuple[str, str]] = {}
        self._message_failures: deque[tuple[int, int | None]] = deque()
        self._message_stalls: deque[float] = deque()
        self._media_failures: dict[str, list[Any]] = {}
        self._runners: list[web.AppRunner] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeTwilio:
        api = web.Application()
        api.router.add_route("*", "/{tail:.*}", self._handle_rest)
        cdn = web.Application()
        cdn.router.add_route("*", "/{tail:.*}", self._handle_cdn)
        self.base_url = await self._serve(api)
        self.cdn_url = await self._serve(cdn)
        return self

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()

    async def __aenter__(self) -> FakeTwilio:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test-side API

    @property
    def account_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}"

    def media_url(self, message_sid: str, media_sid: str) -> str:
        return f"{self.base_url}{self.account_path}/Messages/{message_sid}/Media/{media_sid}"

    def add_media(
        self,
        message_sid: str,
        media_sid: str | None,
        data: bytes,
        content_type: str = "image/jpeg",
    ) -> str:
        """Register media of an inbound message; returns the URL for MediaUrlN."""
        media_sid = media_sid or new_sid("ME")
        key = secrets.token_hex(20)
        self._media[(message_sid, media_sid)] = {
            "data": data,
            "content_type": content_type,
            "date_created": _rfc2822(),
            "cdn_key": key,
        }
        self._cdn[key] = (message_sid, media_sid)
        return self.media_url(message_sid, media_sid)

    def has_media(self, message_sid: str, media_sid: str) -> bool:
        return (message_sid, media_sid) in self._media

    def stall_next_messages(self, count: int = 1, seconds: float = 2.0) -> None:
        """The next ``count`` Messages.json creates hang ``seconds`` (a client
        timeout), then fail without creating a message."""
        self._message_stalls.extend([seconds] * count)

    def fail_next_messages(
        self, count: int = 1, status: int = 500, retry_after: int | None = None
    ) -> None:
        """The next ``count`` Messages.json creates fail (429 gets a Retry-After header)."""
        for _ in range(count):
            self._message_failures.append((status, retry_after))

    def fail_media(self, media_sid: str, status: int = 404, count: int | None = None) -> None:
        """GETs of this media's URL answer ``status`` (``count`` times, default: always)."""
        self._media_failures[media_sid] = [status, count]

    def inbound_params(
        self,
        from_: str,
        to: str,
        body: str,
        message_sid: str | None = None,
        media: Iterable[str | tuple[str, str]] = (),
        **kwargs: Any,
    ) -> dict[str, str]:
        """``inbound_params`` with this fake's account SID."""
        kwargs.setdefault("account_sid", self.account_sid)
        return inbound_params(from_, to, body, message_sid, media, **kwargs)

    def status_params(self, message: Mapping[str, Any], status: str = "delivered", **kw: Any):
        kw.setdefault("account_sid", self.account_sid)
        return status_params(message, status, **kw)

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages were created."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() >= deadline:
                bodies = [m["body"] for m in self.messages]
                raise TimeoutError(
                    f"expected {count} Twilio messages within {timeout}s, got "
                    f"{len(self.messages)}: {bodies!r}"
                )
            await asyncio.sleep(0.005)
        return list(self.messages)

    # ------------------------------------------------------------------ REST API

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except ValueError:
            return False
        login, _, password = decoded.partition(":")
        return hmac.compare_digest(login, self.account_sid) and hmac.compare_digest(
            password, self.auth_token
        )

    def _unauthorized(self) -> web.Response:
        return _error_response(401, headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})

    def _not_found(self, path: str) -> web.Response:
        return _error_response(404, message=f"The requested resource {path} was not found")

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.body_exists else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "form": _form_dict(form) if form is not None else {},
                "headers": CIMultiDict(request.headers),
            }
        )
        path = request.path
        media = _MEDIA.fullmatch(path)
        public = (
            media is not None
            and request.method == "GET"
            and not media["json"]
            and not self.media_requires_auth
        )
        if not public and not self._authorized(request):
            return self._unauthorized()
        match = _MESSAGES.fullmatch(path) or _MESSAGE.fullmatch(path) or media
        if match is None:
            return self._not_found(path)
        if match["account"] != self.account_sid:
            return self._unauthorized()
        if media is not None:
            if request.method == "GET":
                return self._get_media(media["msid"], media["mid"], bool(media["json"]), path)
            if request.method == "DELETE":
                return self._delete_media(media["msid"], media["mid"], path)
            return _error_response(405)
        if match.re is _MESSAGES:
            if self._message_stalls and request.method == "POST":
                # Hang past the client's timeout, then fail without creating anything.
                await asyncio.sleep(self._message_stalls.popleft())
                return _error_response(504)
            if request.method != "POST":
                return _error_response(405)
            return self._create_message(form if form is not None else MultiDict())
        if request.method != "GET":
            return _error_response(405)
        resource = self._resources.get(match["msid"])
        return web.json_response(resource) if resource else self._not_found(path)

    def _create_message(self, form: MultiDictProxy[str] | MultiDict[str]) -> web.Response:
        if self._message_failures:
            status, retry_after = self._message_failures.popleft()
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return _error_response(status, headers=headers)
        to = form.get("To", "")
        from_ = form.get("From", "")
        service = form.get("MessagingServiceSid")
        body = form.get("Body", "")
        media_urls = form.getall("MediaUrl", [])
        if not to:
            return _error_response(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return _error_response(400, 21603, "A 'From' phone number is required.")
        if not body and not media_urls and not form.get("ContentSid"):
            return _error_response(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return _error_response(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if from_ and _channel(to) != _channel(from_):
            return _error_response(
                400,
                21910,
                "Invalid From and To pair. From and To should be of the same channel",
            )
        sid = new_sid("MM" if media_urls else "SM")
        now = _rfc2822()
        uri = f"{self.account_path}/Messages/{sid}.json"
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_ or None,
            "messaging_service_sid": service,
            "num_media": str(len(media_urls)),
            "num_segments": "1" if _channel(to) != "sms" else str(num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service and not from_ else "queued",
            "subresource_uris": {"media": f"{self.account_path}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": uri,
        }
        self._resources[sid] = resource
        self.messages.append(
            {
                "sid": sid,
                "to": to,
                "from": from_,
                "body": body,
                "status_callback": form.get("StatusCallback"),
                "media_url": list(media_urls),
                "messaging_service_sid": service,
                "form": _form_dict(form),
                "resource": resource,
            }
        )
        return web.json_response(resource, status=201)

    def _get_media(self, msid: str, mid: str, as_json: bool, path: str) -> web.Response:
        failure = self._media_failures.get(mid)
        if failure is not None and not as_json:
            status, remaining = failure
            if remaining is not None:
                failure[1] -= 1
                if failure[1] <= 0:
                    del self._media_failures[mid]
            return self._not_found(path) if status == 404 else _error_response(status)
        media = self._media.get((msid, mid))
        if media is None:
            return self._not_found(path)
        if as_json:
            return web.json_response(
                {
                    "account_sid": self.account_sid,
                    "content_type": media["content_type"],
                    "date_created": media["date_created"],
                    "date_updated": media["date_created"],
                    "parent_sid": msid,
                    "sid": mid,
                    "uri": f"{self.account_path}/Messages/{msid}/Media/{mid}.json",
                }
            )
        expires = int(time.time()) + 4 * 3600
        signature = hashlib.sha256(f"{media['cdn_key']}{expires}".encode()).hexdigest()
        location = (
            f"{self.cdn_url}/{self.account_sid}/{media['cdn_key']}"
            f"?Expires={expires}&Signature={signature}&Key-Pair-Id=APKAFAKETWILIOCDN"
        )
        return web.Response(status=307, headers={"Location": location})

    def _delete_media(self, msid: str, mid: str, path: str) -> web.Response:
        media = self._media.pop((msid, mid), None)
        if media is None:
            return self._not_found(path)
        self._cdn.pop(media["cdn_key"], None)
        self.deleted_media.append((msid, mid))
        return web.Response(status=204)

    # ------------------------------------------------------------------ CDN

    async def _handle_cdn(self, request: web.Request) -> web.Response:
        headers = CIMultiDict(request.headers)
        self.cdn_requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": headers,
                "authorization": headers.get("Authorization"),
            }
        )
        if request.method not in ("GET", "HEAD"):
            return self._s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
        if self.cdn_rejects_authorization and "Authorization" in headers:
            return self._s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
            )
        key = request.path.rsplit("/", 1)[-1]
        owner = self._cdn.get(key)
        media = self._media.get(owner) if owner else None
        if media is None or "Signature" not in request.query:
            return self._s3_error(403, "AccessDenied", "Access Denied")
        return web.Response(body=media["data"], content_type=media["content_type"])

    @staticmethod
    def _s3_error(status: int, code: str, message: str) -> web.Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
        )
        return web.Response(status=status, text=body, content_type="application/xml")


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """A running FakeTwilio with the default credentials (import it into a conftest)."""
    async with FakeTwilio() as tw:
        yield tw

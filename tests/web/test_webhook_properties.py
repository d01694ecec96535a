"""Whatever reaches the public routes (signed Twilio webhooks, Telegram updates
with the secret header, upload and download links), the server never answers
5xx and never takes a second: malformed input is refused or dropped, and
nothing malformed reaches a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.models import Channel
from integrations.telegram import TelegramAdapter
from integrations.twilio.adapter import TwilioAdapter
from tests.conftest import CODE, PNG, FakeClock, mailbox_of, telegram_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio, signed_form
from tests.integrations.test_twilio import SMS_NUMBER, WHATSAPP_NUMBER, Twilio
from tests.server import PUBLIC_URL, running_server

SECRET = "property-webhook-secret"
AT_PROOF = "+6281100000001"  # kept at the ID-proof step, so media is fetched
SMS_CUSTOMER = "+6281100000002"  # holds an upload link
BUDGET = 1.0  # seconds per request
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))


class Harness:
    """The real server with Twilio and Telegram (webhook mode) against their
    fakes, in an event loop of its own that each example runs in."""

    def __init__(self, root: Path) -> None:
        self.runner = asyncio.Runner()
        self.runner.run(self._start(root))

    async def _start(self, root: Path) -> None:
        self.twilio = await FakeTwilio().start()
        self.telegram = await FakeTelegram().__aenter__()
        settings = telegram_settings(
            root / "data",
            self.telegram,
            public_url=PUBLIC_URL,
            telegram_webhook_url=f"{PUBLIC_URL}/webhooks/telegram",
            telegram_webhook_secret=SECRET,
            twilio_account_sid=self.twilio.account_sid,
            twilio_auth_token=self.twilio.auth_token,
            twilio_whatsapp_number=WHATSAPP_NUMBER,
            twilio_sms_number=SMS_NUMBER,
            twilio_api_base_url=self.twilio.base_url,
        )
        self._server_cm = running_server(
            settings,
            lambda core: [TwilioAdapter(core), TelegramAdapter(core)],
            FakeClock(),
        )
        self.server = await self._server_cm.__aenter__()
        self.http = httpx.AsyncClient(timeout=10)
        self.chat = Twilio(self.twilio, self.server, self.http, mailbox_of(self.server.core.engine))
        for line in ("2", "Siti Aminah", "siti@example.com", CODE, "lewati"):
            await self.chat.say(line, sender=f"whatsapp:{AT_PROOF}")
        async with self.server.core.services.store.transaction(readonly=True) as tx:
            self.at_proof = await tx.get_conversation(Channel.WHATSAPP, AT_PROOF)
        assert self.at_proof is not None and self.at_proof.state == "access.id_proof"
        for line in ("2", "Siti Aminah", "siti@example.com", CODE):
            await self.chat.say(line, sender=SMS_CUSTOMER)
        bodies = await self.chat.say("lewati", sender=SMS_CUSTOMER)
        found = re.search(r"/upload/([A-Za-z0-9_-]+)", "\n".join(bodies))
        assert found, bodies
        self.upload_token = found.group(1)
        self.media_url = self.twilio.add_media("MM" + "5" * 32, "ME" + "5" * 32, PNG, "image/png")

    def close(self) -> None:
        async def stop() -> None:
            await self.http.aclose()
            await self._server_cm.__aexit__(None, None, None)
            await self.telegram.__aexit__(None, None, None)
            await self.twilio.stop()

        self.runner.run(stop())
        self.runner.close()

    def timed(self, request: Any) -> httpx.Response:
        """Run one request; it must answer below 5xx within the budget."""
        started = time.monotonic()
        response: httpx.Response = self.runner.run(request)
        elapsed = time.monotonic() - started
        assert response.status_code < 500, (response.status_code, response.text[:300])
        assert elapsed < BUDGET, elapsed
        return response

    async def back_at_proof(self) -> None:
        """Media is fetched only at the ID-proof step: stand there again."""
        assert self.at_proof is not None
        async with self.server.core.services.store.transaction() as tx:
            await tx.save_conversation(self.at_proof)

    async def signed(self, path: str, params: dict[str, str], query: str = "") -> httpx.Response:
        target = path + (f"?{query}" if query else "")
        headers = signed_form(PUBLIC_URL + target, params, self.twilio.auth_token)
        return await self.http.post(self.server.url + target, data=params, headers=headers)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("webhooks"))
    yield h
    h.close()


PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Form values travel as UTF-8 text: no lone surrogates.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
numberish = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", "1.5", "abc", "\u0661", "99999999999999999999", "-1", "0x1f"]),
    text,
)
URLS = [
    "http://[::1",
    "\x00http://x",
    "http://xn--/",
    "http://127.0.0.1:99999/x",
    "http://127.0.0.1:1/x",
    "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
    "https://api.twilio.com.example/x",
    "ftp://x/y",
    "//",
    "",
]
media_url = st.one_of(
    st.sampled_from(URLS),
    text,
    text.map(lambda t: "{api}/" + quote(t)),
    st.just("{media}"),
)
# Biased towards the customer at the ID-proof step with one media item: the
# only case where media is fetched.
sender = st.one_of(
    st.just(f"whatsapp:{AT_PROOF}"),
    st.sampled_from([SMS_CUSTOMER, "whatsapp:", "+62", ""]),
    text,
)


@PROPERTY
@given(
    sender=sender,
    sid=st.one_of(st.sampled_from(["SM" + "1" * 32, "SM" + "2" * 32]), text),
    body=st.one_of(st.just(""), text),
    num_media=st.one_of(st.just("1"), numberish),
    url=media_url,
    extra=st.dictionaries(
        st.sampled_from(["OptOutType", "SmsMessageSid", "MediaContentType0", "To"]), text
    ),
)
def test_twilio_message_webhook(
    harness: Harness, sender: str, sid: str, body: str, num_media: str, url: str, extra: dict
) -> None:
    # Placeholders only at the start: generated text may hold braces of its own.
    if url == "{media}":
        url = harness.media_url
    elif url.startswith("{api}/"):
        url = harness.twilio.base_url + url.removeprefix("{api}")
    params = {"From": sender, "MessageSid": sid, "Body": body, "NumMedia": num_media}
    params.update({"MediaUrl0": url, **extra})
    harness.runner.run(harness.back_at_proof())
    harness.timed(harness.signed("/webhooks/twilio", params))


@PROPERTY
@given(
    ids=st.one_of(
        st.lists(st.integers(0, 2**70).map(str), max_size=60).map(",".join),
        text,
        st.sampled_from(["99999999999999999999", ",".join(map(str, range(5000)))]),
    ),
    sid=text,
    state=st.one_of(st.sampled_from(["delivered", "failed", "undelivered", "sent"]), text),
    error=st.one_of(st.none(), numberish),
    to=st.one_of(st.sampled_from([f"whatsapp:{AT_PROOF}", SMS_CUSTOMER]), text),
)
def test_twilio_status_webhook(
    harness: Harness, ids: str, sid: str, state: str, error: str | None, to: str
) -> None:
    params = {"MessageSid": sid, "MessageStatus": state, "To": to}
    if error is not None:
        params["ErrorCode"] = error
    harness.timed(harness.signed("/webhooks/twilio/status", params, "o=" + quote(ids, safe=",")))


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
chat = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(-(2**64), 2**64), json_value)},
    optional={"type": st.sampled_from(["private", "group", "supergroup", "channel", "x"])},
)
user = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(), json_value), "is_bot": st.booleans()},
    optional={"first_name": text, "language_code": st.one_of(text, st.just("en"))},
)
message = st.fixed_dictionaries(
    {"message_id": st.one_of(st.integers(-(2**40), 2**40), json_value), "date": st.integers(0)},
    optional={"chat": chat, "from": user, "text": text, "caption": text},
)
update = st.one_of(
    st.fixed_dictionaries(
        {"update_id": st.one_of(st.integers(-(2**64), 2**64), json_value)},
        optional={"message": st.one_of(message, json_value)},
    ),
    st.fixed_dictionaries(
        {
            "update_id": st.integers(0, 2**31),
            "callback_query": st.fixed_dictionaries(
                {"id": text, "from": user, "chat_instance": text},
                optional={"message": message, "data": st.one_of(text, st.just("menu|1"))},
            ),
        }
    ),
    json_value,
)


@PROPERTY
@given(update=update)
def test_telegram_webhook(harness: Harness, update: Any) -> None:
    body = json.dumps(update, allow_nan=True).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    harness.timed(
        harness.http.post(harness.server.url + "/webhooks/telegram", content=body, headers=headers)
    )


token = st.one_of(st.just("{upload}"), st.text("abcXYZ019-_", max_size=60), text)
form = st.dictionaries(st.sampled_from(["action", "code", "file", "x"]), text, max_size=3)


@PROPERTY
@given(
    route=st.sampled_from(["upload", "download"]),
    token=token,
    method=st.sampled_from(["GET", "POST"]),
    fields=form,
    file=st.one_of(st.none(), st.binary(max_size=64), st.just(PNG)),
    raw=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_upload_and_download_links(
    harness: Harness,
    route: str,
    token: str,
    method: str,
    fields: dict,
    file: bytes | None,
    raw: bytes | None,
) -> None:
    token = token.replace("{upload}", harness.upload_token)
    url = f"{harness.server.url}/{route}/{quote(token, safe='')}"
    if method == "GET":
        harness.timed(harness.http.get(url))
    elif raw is not None:
        headers = {"Content-Type": "multipart/form-data; boundary=x"}
        harness.timed(harness.http.post(url, content=raw, headers=headers))
    else:
        files = {"file": ("f.png", file, "image/png")} if file is not None else None
        harness.timed(harness.http.post(url, data=fields, files=files))

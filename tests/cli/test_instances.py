"""Several ``privacybot serve`` processes on one PostgreSQL database and one
data folder, as behind a load balancer: nothing acknowledged is lost, and
nothing is done twice.

200 WhatsApp customers talk to three instances at once, each webhook
delivered to two instances at the same moment (Twilio retrying while the
first is still at work, or a balancer sending it twice); one instance is
killed with SIGKILL in the middle and started again; a message whose
webhook got no answer is delivered again, as Twilio does. Then staff ask
every customer for more information, which all three instances' workers
send while another instance is killed. Afterwards the database holds every
acknowledged message once with its replies, every customer one request,
every code mail and every notice was sent exactly once, and a Telegram
update posted to two instances was handled once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.cli.test_serve import (
    PUBLIC_URL,
    WHATSAPP_NUMBER,
    Served,
    channel_env,
    run_cli,
    serve,
)
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio, signed_form

pytestmark = [pytest.mark.slow, pytest.mark.own_database]

CUSTOMERS = 200
AT_ONCE = 40  # customers talking at the same time
CODE = re.compile(r"^(\d{6})$", re.MULTILINE)
REFERENCE = re.compile(r"\bACC-[0-9A-HJKMNP-TV-Z]{6}\b")
TELEGRAM_SECRET = "telegram-webhook-secret-for-tests"


class Cluster:
    """Three instances; ``say`` delivers a webhook to two of them at once."""

    def __init__(self, tmp_path: Path, env: dict[str, str], tw: FakeTwilio) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.tw = tw
        self.instances: list[Served] = []
        self.stack = contextlib.AsyncExitStack()
        self.client = httpx.AsyncClient(timeout=30)
        self.acknowledged: dict[str, str] = {}  # MessageSid -> the TwiML it was answered
        self.differing: list[tuple[str, str, str]] = []
        self.redelivered = 0

    async def start(self, count: int) -> None:
        for _ in range(count):
            self.instances.append(
                await self.stack.enter_async_context(serve(self.tmp_path, self.env))
            )

    async def kill(self, index: int) -> None:
        victim = self.instances[index]
        victim.process.kill()  # SIGKILL: no clean shutdown
        await victim.process.wait()

    async def restart(self, index: int) -> None:
        self.instances[index] = await self.stack.enter_async_context(serve(self.tmp_path, self.env))

    async def _post(self, served: Served, params: dict[str, str]) -> str | None:
        headers = signed_form(PUBLIC_URL + "/webhooks/twilio", params, self.tw.auth_token)
        try:
            answer = await self.client.post(
                served.url + "/webhooks/twilio", data=params, headers=headers
            )
        except httpx.TransportError:
            return None  # killed meanwhile: no answer, as Twilio sees it
        if answer.status_code != 200:
            return None
        return answer.text

    async def say(self, number: str, body: str, turn: int) -> str:
        """One customer message, delivered to two instances at once until one
        of them acknowledges it; the TwiML it was answered with."""
        params = self.tw.inbound_params(f"whatsapp:{number}", WHATSAPP_NUMBER, body)
        sid = params["MessageSid"]
        for attempt in range(20):
            first = self.instances[(turn + attempt) % len(self.instances)]
            second = self.instances[(turn + attempt + 1) % len(self.instances)]
            answers = await asyncio.gather(self._post(first, params), self._post(second, params))
            got = [a for a in answers if a is not None]
            if len(got) == 2 and got[0] != got[1]:
                self.differing.append((sid, got[0], got[1]))
            if got:
                self.acknowledged[sid] = got[0]
                return got[0]
            self.redelivered += 1
            await asyncio.sleep(0.2)
        raise AssertionError(f"no instance acknowledged {sid}")

    async def close(self) -> None:
        await self.client.aclose()
        await self.stack.aclose()


def _name(n: int) -> str:
    """A full name of letters only (a name with digits is asked again)."""
    return "Siti " + "".join("abcdefghij"[int(d)] for d in str(n)).capitalize()


# Each mail file parsed once (by size: one may be read while being written).
_READ: dict[tuple[Path, int], tuple[str, str, list[str]]] = {}


def _codes_by_recipient(data_dir: Path) -> dict[str, dict[str, str]]:
    """Each recipient's code mails: Message-ID -> code."""
    found: dict[str, dict[str, str]] = {}
    for path in (data_dir / "mail").glob("*.eml"):
        data = path.read_bytes()
        key = (path, len(data))
        if key not in _READ:
            message = email.message_from_bytes(data)
            codes = []
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    codes += CODE.findall(payload.decode(part.get_content_charset() or "utf-8"))
            _READ[key] = (message["To"], message["Message-ID"], codes)
        to, message_id, codes = _READ[key]
        for code in codes:
            found.setdefault(to, {})[message_id] = code
    return found


async def _code_for(data_dir: Path, to: str) -> str:
    for _ in range(500):
        codes = (await asyncio.to_thread(_codes_by_recipient, data_dir)).get(to, {})
        if codes:
            return next(iter(codes.values()))
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code mailed to {to}")


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


async def test_three_instances_on_one_database_lose_nothing_and_do_nothing_twice(
    tmp_path: Path, postgres_database: str
) -> None:
    data_dir = tmp_path / "data"
    async with FakeTwilio() as tw, FakeTelegram() as tg:
        env = channel_env(data_dir, tw, tg)
        env.update(
            PRIVACYBOT_DATABASE_URL=postgres_database,
            PRIVACYBOT_SECRET_KEY=base64.b64encode(os.urandom(32)).decode(),
            TELEGRAM_WEBHOOK_URL=PUBLIC_URL + "/webhooks/telegram",
            TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
            # What a killed instance was sending goes to another after 10 s.
            PRIVACYBOT_OUTBOX_LEASE_SECONDS="10",
        )
        cluster = Cluster(tmp_path, env, tw)
        url = postgres_database
        try:
            await cluster.start(3)
            started = time.monotonic()
            gate = asyncio.Semaphore(AT_ONCE)
            references: dict[int, str] = {}
            half = asyncio.Event()
            done = 0

            async def customer(n: int) -> None:
                nonlocal done
                number, mail = f"+62812{n:07d}", f"pelanggan{n}@example.com"
                async with gate:
                    for line in ("2", _name(n), mail):
                        await cluster.say(number, line, n)
                    await cluster.say(number, await _code_for(data_dir, mail), n)
                    for line in ("lewati", "nanti"):
                        await cluster.say(number, line, n)
                    filed = await cluster.say(number, "1", n)
                    references[n] = REFERENCE.findall(filed)[0]
                    done += 1
                    if done == CUSTOMERS // 2:
                        half.set()

            async def chaos() -> None:
                await half.wait()
                await cluster.kill(1)  # mid-load
                await asyncio.sleep(1.0)
                await cluster.restart(1)

            await asyncio.gather(chaos(), *(customer(n) for n in range(CUSTOMERS)))
            timings = {"conversations": time.monotonic() - started}

            # Staff ask every customer something; every instance's worker sends.
            for ref in references.values():
                code, _, err = await run_cli(
                    env, tmp_path, "requests", "ask", ref, "--message", "KTP?"
                )
                assert code == 0, err
            await asyncio.sleep(0.3)
            await cluster.kill(2)  # while the notices go out
            await cluster.restart(2)
            everything_sent = "SELECT count(*) FROM notifications WHERE status <> 'sent'"
            for _ in range(600):  # a killed instance's claims run out after 10 s
                if len(tw.messages) >= CUSTOMERS and _rows(url, everything_sent) == [(0,)]:
                    break
                await asyncio.sleep(0.1)
            timings["notices"] = time.monotonic() - started - timings["conversations"]
            await asyncio.sleep(2.0)  # nothing more may come

            # A Telegram update posted to two instances at the same moment.
            update = tg.stamp(tg.text_update(4242, "halo"))
            headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
            answers = await asyncio.gather(
                *(
                    cluster.client.post(s.url + "/webhooks/telegram", json=update, headers=headers)
                    for s in cluster.instances[:2]
                )
            )
            assert [a.status_code for a in answers] == [200, 200]
            await asyncio.sleep(1.0)
        finally:
            await cluster.close()

    # Both instances that answered a webhook answered it alike.
    assert cluster.differing == []
    # Every acknowledged message recorded once, with its replies.
    sids = set(cluster.acknowledged)
    assert len(sids) == CUSTOMERS * 7
    recorded = _rows(url, "SELECT external_id FROM inbound_messages WHERE channel = 'whatsapp'")
    assert Counter(r[0] for r in recorded) == Counter(sids)
    unanswered = _rows(
        url,
        "SELECT count(*) FROM inbound_messages i WHERE NOT EXISTS "
        "(SELECT 1 FROM outbound_messages o WHERE o.inbound_id = i.id)",
    )
    assert unanswered == [(0,)]
    # Each customer: one conversation, one request, filed once.
    assert len(set(references.values())) == CUSTOMERS
    assert _rows(url, "SELECT count(*) FROM requests") == [(CUSTOMERS,)]
    assert _rows(url, "SELECT count(*) FROM conversations WHERE channel = 'whatsapp'") == [
        (CUSTOMERS,)
    ]
    # Every code mailed once: one mail (one Message-ID) each. A mail an
    # instance sent just before it was killed, before it could record so, goes
    # again with the same Message-ID, which mail clients fold into one.
    codes = _codes_by_recipient(data_dir)
    assert {to: len(c) for to, c in codes.items()} == {
        f"pelanggan{n}@example.com": 1 for n in range(CUSTOMERS)
    }
    # Every notice recorded sent once; sent once, but for the one a worker may
    # have handed to Twilio in the milliseconds before its instance was killed.
    assert _rows(
        url,
        "SELECT channel, status, count(*) FROM notifications GROUP BY channel, status "
        "ORDER BY channel",
    ) == [("email", "sent", CUSTOMERS), ("whatsapp", "sent", CUSTOMERS)]
    notices = Counter(m["to"] for m in tw.messages)
    assert set(notices) == {f"whatsapp:+62812{n:07d}" for n in range(CUSTOMERS)}
    assert sum(notices.values()) - CUSTOMERS <= 1, notices.most_common(3)
    # The Telegram update: handled once, its replies sent once.
    assert _rows(url, "SELECT count(*) FROM inbound_messages WHERE channel = 'telegram'") == [(1,)]
    replies = _rows(
        url,
        "SELECT count(*) FROM outbound_messages o JOIN inbound_messages i ON i.id = o.inbound_id "
        "WHERE i.channel = 'telegram'",
    )
    assert (
        len([c for c in tg.calls_of("sendMessage") if c.get("chat_id") in (4242, "4242")])
        == (replies[0][0])
    )
    print(json.dumps({"redelivered": cluster.redelivered, "notices": len(tw.messages), **timings}))

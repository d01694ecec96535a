"""The load generator of ``bench.py``: WhatsApp customers sending signed
Twilio webhooks over raw HTTP/1.1 keep-alive connections.

One connection per customer, the request bytes written by hand, the answer
read by its Content-Length: an HTTP library (httpx) spends more CPU per
request than the server under test, so it could not saturate even the bare
endpoint from one core. Signatures are Twilio's (HMAC-SHA1 of the URL and the
sorted parameters, base64), computed here with ``hmac`` as
``RequestValidator.compute_signature`` does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

PATH = "/webhooks/twilio"
ACCOUNT_SID = "AC" + "b" * 32
# Greeting, deletion from the menu, cancel: back at the menu, ready to start over.
DIALOGUE = ("halo", "1", "batal")


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("closed by the server")
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(self.lost)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiting is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self.waiting.set_exception(ValueError("answer without Content-Length"))
            return
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        waiting, self.waiting = self.waiting, None
        waiting.set_result((status, body))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.lost is not None or self.transport is None:
            raise self.lost or ConnectionError("not connected")
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiting


@dataclass
class Customer:
    """A WhatsApp number going through the dialogue, its message ids unique."""

    number: str
    to: str
    public_url: str
    auth_token: str
    host: str
    sent: int = 0

    def request(self, text: str) -> bytes:
        self.sent += 1
        sid = f"SM{self.number[-10:]}{self.sent:020d}"
        params = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": "Pelanggan",
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": self.number.lstrip("+"),
            "SmsStatus": "received",
            "Body": text,
            "To": self.to,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": "whatsapp:" + self.number,
            "ApiVersion": "2010-04-01",
        }
        signed = self.public_url + PATH + "".join(k + params[k] for k in sorted(params))
        mac = hmac.new(self.auth_token.encode(), signed.encode(), hashlib.sha1)
        signature = base64.b64encode(mac.digest()).decode()
        body = urlencode(params, quote_via=quote).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nUser-Agent: TwilioProxy/1.1\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


def is_twiml(body: bytes) -> bool:
    return body.startswith(b"<?xml") and b"<Response>" in body


@dataclass
class Tally:
    """What came back while measuring: answers by kind, latencies in seconds."""

    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)  # open loop: how late sends went out
    per_second: Counter[int] = field(default_factory=Counter)  # closed loop: answers each second

    def count(self, status: int, body: bytes, latency: float) -> None:
        if status == 200 and is_twiml(body):
            self.ok += 1
            self.latencies.append(latency)
            return
        kind = str(status) if status != 200 else "200 without TwiML"
        self.errors[kind] += 1
        self.first_error = self.first_error or f"{kind}: {body[:120]!r}"

    def fail(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.errors[kind] += 1
        self.first_error = self.first_error or f"{kind}: {exc}"


@dataclass
class Target:
    host: str
    port: int
    public_url: str
    auth_token: str
    to: str
    spread: tuple[int, ...] = ()  # more instances' ports: connections go round them


def customers(target: Target, count: int, first: int) -> list[Customer]:
    """``count`` WhatsApp numbers, +6285 and 8 digits from ``first`` on (the
    seeded history uses +62812/+62813, so they never meet it)."""
    host = f"{target.host}:{target.port}"
    return [
        Customer(f"+6285{first + n:08d}", target.to, target.public_url, target.auth_token, host)
        for n in range(count)
    ]


async def connect(target: Target, count: int) -> list[Connection]:
    loop = asyncio.get_running_loop()
    made = []
    ports = (target.port, *target.spread)
    for n in range(count):
        _, protocol = await loop.create_connection(Connection, target.host, ports[n % len(ports)])
        made.append(protocol)
    return made


def close(connections: Sequence[Connection]) -> None:
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()


async def closed_loop(
    target: Target, people: Sequence[Customer], warmup: float, duration: float
) -> Tally:
    """Every customer sends its next message as soon as the last answer came:
    the answers counted between ``warmup`` and ``warmup + duration`` seconds
    are the throughput at saturation."""
    connections = await connect(target, len(people))
    tally = Tally()
    started = time.perf_counter()
    measure_from, stop_at = started + warmup, started + warmup + duration

    async def talk(customer: Customer, connection: Connection) -> None:
        turn = 0
        while True:
            request = customer.request(DIALOGUE[turn % len(DIALOGUE)])
            turn += 1
            sent = time.perf_counter()
            try:
                status, body = await connection.exchange(request)
            except (OSError, ValueError) as exc:
                tally.fail(exc)
                return
            now = time.perf_counter()
            if now >= stop_at:
                return
            if sent >= measure_from:
                tally.count(status, body, now - sent)
                tally.per_second[int(now - measure_from)] += 1

    await asyncio.gather(*(talk(c, k) for c, k in zip(people, connections, strict=True)))
    close(connections)
    return tally


async def open_loop(
    target: Target, people: Sequence[Customer], rate: float, duration: float
) -> Tally:
    """Messages at a fixed offered rate, message i due at ``i / rate``: each
    goes to customer ``i mod customers``, who sends it when it is due and its
    previous answer came; the latency runs from when it was due, so waiting
    behind a slow server counts."""
    connections = await connect(target, len(people))
    tally = Tally()
    total = int(rate * duration)
    started = time.perf_counter() + 0.05

    async def talk(index: int, customer: Customer, connection: Connection) -> None:
        for turn, message in enumerate(range(index, total, len(people))):
            due = started + message / rate
            wait = due - time.perf_counter()
            if wait > 0:  # on time, unless this process is late waking up
                await asyncio.sleep(wait)
                tally.late.append(time.perf_counter() - due)
            try:
                status, body = await connection.exchange(
                    customer.request(DIALOGUE[turn % len(DIALOGUE)])
                )
            except (OSError, ValueError) as exc:
                tally.fail(exc)
                return
            tally.count(status, body, time.perf_counter() - due)

    await asyncio.gather(
        *(talk(n, c, k) for n, (c, k) in enumerate(zip(people, connections, strict=True)))
    )
    close(connections)
    return tally


async def dialogue(target: Target, customer: Customer) -> list[tuple[int, bytes]]:
    """One customer's dialogue, once: the answers, to check they make sense."""
    (connection,) = await connect(target, 1)
    answers = [await connection.exchange(customer.request(text)) for text in DIALOGUE]
    close([connection])
    return answers

"""Outgoing email: SMTP in production, ``.eml`` files in development.

``SMTP_URL`` names the server: ``smtp://user:pass@host:port`` (plain, or
``?starttls=true`` to upgrade), ``smtps://`` for implicit TLS. Without it,
mail is written under ``data/mail`` so the embedded default works with no
mail server; listeners (the terminal chat) can show it as development mail.
"""

from __future__ import annotations

import abc
import hashlib
import html
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from bot.settings import Settings, SettingsError

log = logging.getLogger(__name__)
SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    language: str
    message_key: str | None = None  # the same key gives the same Message-ID


class Mailer(abc.ABC):
    @abc.abstractmethod
    async def send(self, mail: Mail) -> None:
        """Deliver or raise; callers decide what a failure means."""

    def forget(self, address: str) -> int:
        """Remove the copies kept of mail to ``address`` (its customer is
        forgotten); how many. Mail that really leaves keeps none here."""
        return 0

    def watch(self, listener: Callable[[Mail], None]) -> bool:
        """Show each mail to ``listener`` as it is written, where mail stays on
        this machine (development); False where it really leaves."""
        return False


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = sender.rsplit("@", 1)[-1].strip(">") or "privacybot.local"
    if mail.message_key:
        digest = hashlib.sha256(mail.message_key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@{domain}>"
    else:
        message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    message["Content-Language"] = mail.language  # after: set_content clears Content-*
    return message


class SmtpMailer(Mailer):
    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SettingsError("SMTP_URL: expected smtp://[user:pass@]host[:port]")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        self.sender = sender
        self.options = {
            "hostname": parts.hostname,
            "port": parts.port or (465 if parts.scheme == "smtps" else 25),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "use_tls": parts.scheme == "smtps",
            "start_tls": query.get("starttls") in ("true", "1", "yes"),
            "timeout": SMTP_TIMEOUT,
        }

    async def send(self, mail: Mail) -> None:
        await aiosmtplib.send(build_message(mail, self.sender), **self.options)


class FileMailer(Mailer):
    """Development: each mail becomes an ``.eml`` file (mode 0600)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender
        self.listeners: list[Callable[[Mail], None]] = []
        self._announced = False

    async def send(self, mail: Mail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
        fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(build_message(mail, self.sender).as_bytes())
        if not self._announced:
            log.warning("no SMTP_URL: mail is written to %s instead of being sent", self.folder)
            self._announced = True
        for listener in self.listeners:
            listener(mail)

    def watch(self, listener: Callable[[Mail], None]) -> bool:
        self.listeners.append(listener)
        return True

    def forget(self, address: str) -> int:
        """Remove development mail to ``address`` (its customer is forgotten).
        Another process may be forgetting the same mail at the same time: a
        file gone between the listing and its reading or removal is fine."""
        removed = 0
        for path in self.folder.glob("*.eml"):
            try:
                with path.open("rb") as handle:
                    to = BytesParser(policy=policy.default).parse(handle, headersonly=True)["To"]
            except FileNotFoundError:
                continue
            if to and str(to).casefold() == address.casefold():
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def open_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return FileMailer(settings.data_dir / "mail", settings.mail_from)


def html_page(paragraphs: list[str], code: str | None = None) -> str:
    """A plain, accessible HTML body: escaped paragraphs and an optional code."""
    parts = [f"<p>{html.escape(p)}</p>" for p in paragraphs[:1]]
    if code is not None:
        parts.append(
            '<p style="font-size:28px;font-weight:bold;letter-spacing:6px;'
            f'font-family:monospace">{html.escape(code)}</p>'
        )
    parts += [f"<p>{html.escape(p)}</p>" for p in paragraphs[1:]]
    return (
        '<!doctype html><html><body style="font-family:Arial,sans-serif;color:#1d2733">'
        + "".join(parts)
        + "<p>JOVA POS</p></body></html>"
    )

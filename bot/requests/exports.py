"""The data copy of an access request, and the page that hands it over.

Completing an access request packs the back office's files with what the bot
itself holds about the customer (their requests and conversation transcripts,
as JSON and as a readable HTML page) into a zip, sealed at rest like ID proof.
The customer gets a link; the page sends a one-time code to the verified
email and serves the file only for that code. Every download is recorded.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.delivery.mail_outbox import queue_mail, send_due_mail
from bot.domain.errors import Refused
from bot.infra.cpu import off_loop
from bot.infra.crypto import hash_token
from bot.infra.mail import Mail, html_page
from bot.requests.lifecycle import IllegalMove, apply_move
from bot.requests.lookup import RequestNotFound, request_detail
from bot.services import Services
from flows.types import RequestType
from flows.validators import parse_reference

LINK_DAYS = 7
CODE_MINUTES = 10
CODE_ATTEMPTS = 5
CODE_SPACING = timedelta(seconds=60)
DOWNLOAD_CODES_PER_HOUR = 5
MAX_EXPORT_BYTES = 200 * 1024 * 1024
# One file uploaded over HTTP (the API, the console): the body is held in memory.
MAX_UPLOADED_EXPORT_BYTES = 50 * 1024 * 1024


class ExportTooLarge(Refused, ValueError):
    """A file of a data copy over the limit of the door it came through:
    ``MAX_UPLOADED_EXPORT_BYTES`` over HTTP (held in memory), else
    ``MAX_EXPORT_BYTES``."""

    def __init__(self, name: str, limit: int = MAX_UPLOADED_EXPORT_BYTES) -> None:
        super().__init__("export_too_large", name=name, limit_mb=limit // 2**20)


@dataclass(frozen=True)
class ExportFile:
    name: str
    data: bytes


def read_exports(paths: list[str]) -> list[ExportFile]:
    files = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise IllegalMove("export_missing", file=raw)
        if path.stat().st_size > MAX_EXPORT_BYTES:
            raise ExportTooLarge(raw, MAX_EXPORT_BYTES)
        files.append(ExportFile(path.name, path.read_bytes()))
    return files


async def complete_access(
    services: Services, reference: str, actor: str, files: list[ExportFile]
) -> str:
    """Complete an access request with its data copy; returns the download URL.
    The zip is stored first; the completion, the link and the notification
    commit together (a failure leaves only a sealed file that purge removes)."""
    normalised = parse_reference(reference)
    if normalised is None:
        raise RequestNotFound(reference)
    async with services.store.transaction(readonly=True) as tx:
        record = await tx.get_request(normalised)
        if record is None:
            raise RequestNotFound(normalised)
        if record.type is not RequestType.ACCESS:
            raise IllegalMove("not_access", reference=normalised, type=record.type.value)
        transcripts = [
            # The customer's own conversation back, the sealed upload links opened.
            {
                "channel": m.channel.value,
                "at": m.at.isoformat(),
                "who": m.who,
                "text": services.keyring.open_text(m.text) if m.sealed else m.text,
            }
            for m in await tx.request_transcripts(record.email)
        ]
        # The same email in any case, as the transcripts: filtered by the database.
        related = await tx.list_requests(email=record.email)
    blob = services.blobs.new_token()
    # Compressing and sealing up to a hundred megabytes: not on the event loop.
    size, digest = await off_loop(
        _store_zip, services, blob, record.reference, files, related, transcripts
    )
    token = secrets.token_urlsafe(24)  # 192 bits
    url = f"{services.settings.public_url.rstrip('/')}/download/{token}"
    now = services.clock()
    try:
        async with services.store.transaction() as tx:
            fresh = await tx.get_request(record.reference)
            assert fresh is not None
            await tx.create_download(
                hash_token(token),
                record.reference,
                blob,
                size,
                digest,
                now,
                now + timedelta(days=LINK_DAYS),
            )
            # The link waits in the outbox sealed: the database alone does not open it.
            sealed = services.keyring.seal_text(url)
            await apply_move(tx, fresh, "complete", actor, now, download_url=sealed)
    except BaseException:
        services.blobs.delete(blob)
        raise
    return url


def _store_zip(
    services: Services,
    blob: str,
    reference: str,
    files: list[ExportFile],
    requests: list[Any],
    transcripts: list[dict[str, Any]],
) -> tuple[int, str]:
    """Build and seal the zip (in a worker thread); its size and SHA-256."""
    payload = _zip(reference, files, requests, transcripts)
    services.blobs.put(blob, payload)
    return len(payload), hashlib.sha256(payload).hexdigest()


def _zip(
    reference: str,
    files: list[ExportFile],
    requests: list[Any],
    transcripts: list[dict[str, Any]],
) -> bytes:
    data = {
        "reference": reference,
        "requests": [request_detail(r) for r in requests],
        "conversations": transcripts,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f"back-office/{f.name}", f.data)
        archive.writestr("privacybot/data.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("privacybot/data.html", _html(data))
    return out.getvalue()


def _html(data: dict[str, Any]) -> str:
    rows = []
    for r in data["requests"]:
        rows.append(
            "<h2>{}</h2><table>{}</table>".format(
                html.escape(r["reference"]),
                "".join(
                    f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in r.items()
                    if k not in ("events", "attachments", "details")
                ),
            )
        )
    messages = "".join(
        f"<tr><td>{html.escape(m['at'])}</td><td>{html.escape(m['channel'])}</td>"
        f"<td>{html.escape(m['who'])}</td><td>{html.escape(m['text'])}</td></tr>"
        for m in data["conversations"]
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>JOVA POS</title></head><body>'
        f"<h1>JOVA POS - {html.escape(data['reference'])}</h1>{''.join(rows)}"
        f"<h2>Messages</h2><table>{messages}</table></body></html>"
    )


class DownloadError(Exception):
    """The link is unknown or expired (``gone``) or the code is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def send_download_code(services: Services, token: str) -> str:
    """Mail a code for the page; returns the language of the page."""
    now = services.clock()
    async with services.store.transaction() as tx:
        found = await tx.get_download(hash_token(token), now)
        if found is None:
            raise DownloadError("gone")
        sent = found.code_sent_at
        if sent and now - sent < CODE_SPACING:
            raise DownloadError("wait")
        # An hourly cap per link, apart from the chat's per-mailbox one: a stranger
        # exhausting the chat's allowance must not keep the customer from their data.
        bucket = services.keyring.code_digest(found.token_hash, "download-code")
        if not await tx.take_code_mail(bucket, now, DOWNLOAD_CODES_PER_HOUR):
            raise DownloadError("limit")
        code = f"{secrets.randbelow(10**6):06d}"
        digest = services.keyring.code_digest(code, f"download:{found.token_hash}")
        expires = now + timedelta(minutes=CODE_MINUTES)
        await tx.set_download_code(found.token_hash, digest, expires, 0, now)
        language = found.language

        def t(key: str) -> str:
            return services.catalogue.text(language, f"mail.code.{key}").format(
                code=code, minutes=CODE_MINUTES
            )

        # Queued sealed with the code: a process that dies after this commit
        # leaves the mail to the outbox worker, not lost.
        mail = Mail(
            to=found.email,
            subject=t("subject"),
            text=t("text"),
            html=html_page([t("html_intro"), t("html_validity"), t("html_ignore")], code),
            language=language,
            message_key=f"download-code:{found.token_hash}:{now.isoformat()}",
        )
        queued = await queue_mail(tx, services, "download_code", mail, now, expires)
    if queued is not None:
        await send_due_mail(services, [queued])  # the page says "sent": send it now
    return language


async def open_download(
    services: Services, token: str, code: str, address: str | None = None
) -> tuple[str, bytes]:
    """(file name, zip) for the right code; the code is used up and the
    download recorded with where it went (``address``: the audit's "from
    where"). Wrong codes count; 5 of them need a new code."""
    now = services.clock()
    async with services.store.transaction() as tx:
        found = await tx.get_download(hash_token(token), now)
        if found is None:
            raise DownloadError("gone")
        digest, expires = found.code_digest, found.code_expires
        usable = digest is not None and expires is not None and now < expires
        typed = "".join(code.split())
        ok = usable and services.keyring.code_matches(typed, f"download:{found.token_hash}", digest)
        if not ok:
            attempts = found.code_attempts + 1
            spent = attempts >= CODE_ATTEMPTS
            await tx.set_download_code(
                found.token_hash,
                None if spent else digest,
                None if spent else expires,
                attempts,
                None,
            )
            raise DownloadError("code")
        await tx.set_download_code(found.token_hash, None, None, 0, None)  # one use
        await tx.add_request_event(
            found.reference, "customer", "downloaded", {"size": found.size, "address": address}, now
        )
    data = await off_loop(services.blobs.get, found.blob_token)  # decrypting: off the loop
    return f"jova-pos-data-{found.reference}.zip", data

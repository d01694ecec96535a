"""Forgetting on time: ID proofs a retention period after their request was
verified, completed, rejected or cancelled, and drafts nobody came back to.

Runs hourly inside the server and on ``privacybot purge``. The database row
of a deleted file stays (type, size, hash, when it was deleted) as the record
that the file existed and was removed; the content is gone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain.errors import Refused
from bot.infra.blobs import BlobUnreadable
from bot.infra.cpu import off_loop
from bot.services import Services

log = logging.getLogger(__name__)


ORPHAN_AGE_SECONDS = 3600  # far longer than any transaction


async def purge_id_proofs(services: Services) -> int:
    now = services.clock()
    cutoff = now - timedelta(days=services.settings.id_proof_retention_days)
    async with services.store.transaction() as tx:
        due = await tx.id_proofs_due(cutoff)
        await tx.mark_attachments_deleted([token for token, _ in due], now)
        for reference in sorted({reference for _, reference in due}):
            await tx.add_request_event(
                reference,
                "system",
                "id_proof_deleted",
                {"retention_days": services.settings.id_proof_retention_days},
                now,
            )
    for token, _ in due:  # after the commit: a crash leaves files, never dangling rows
        services.blobs.delete(token)
    if due:
        log.info("deleted %d ID proofs past their retention", len(due))
    return len(due)


async def purge_orphans(services: Services) -> int:
    """Files with no live row: written by a process killed before its commit
    (or whose deletion was interrupted). Old enough that no transaction can
    still be about to record them."""
    candidates = services.blobs.stored(older_than=ORPHAN_AGE_SECONDS)
    if not candidates:
        return 0
    async with services.store.transaction(readonly=True) as tx:
        live = await tx.live_attachment_tokens()
    orphans = [token for token in candidates if token not in live]
    for token in orphans:
        services.blobs.delete(token)
    if orphans:
        log.info("deleted %d stored files that no record refers to", len(orphans))
    return len(orphans)


async def forget_deleted_customers(services: Services) -> int:
    """After a completed deletion, the customer is forgotten: their messages,
    codes, files and identifying fields go; the compliance record (reference,
    type, dates, status history, keyed hash of the email) stays. Completing a
    deletion does it at once (``bot.requests.actions.complete``); this hourly run finishes
    what a crash interrupted."""
    async with services.store.transaction(readonly=True) as tx:
        references = await tx.deletions_to_forget()
    forgotten = 0
    for reference in references:
        forgotten += await forget_customer(services, reference, scrub=False)
    if references:
        await services.store.scrub_wal()
    return forgotten


async def forget_customer(services: Services, reference: str, *, scrub: bool = True) -> bool:
    """Forget the customer of one completed deletion; False when there was
    nothing (left) to forget. Idempotent: a parallel run, or one interrupted
    by a crash, is finished by the next, and files already gone are fine."""
    now = services.clock()
    async with services.store.transaction() as tx:
        record = await tx.get_request(reference)
        if (
            record is None
            or record.forgotten
            or record.type.value != "deletion"
            or record.status.value != "completed"
        ):
            return False
        email = record.email
        tokens = await tx.forget_customer(reference, services.keyring.identity_digest(email), now)
        await tx.add_request_event(reference, "system", "customer_forgotten", {}, now)
    for token in tokens:
        services.blobs.delete(token)
    services.mailer.forget(email)  # development mail files name the address
    log.info("forgot the customer of %s", reference)
    if scrub:
        await services.store.scrub_wal()
    return True


async def drop_old_compliance_records(services: Services) -> int:
    """The proof that a deletion was done is kept for a configured number of
    years, then it goes too."""
    years = services.settings.compliance_record_years
    before = services.clock() - timedelta(days=365 * years + years // 4)
    async with services.store.transaction() as tx:
        dropped = await tx.drop_compliance_records(before)
    if dropped:
        log.info("dropped %d compliance records older than %d years", dropped, years)
    return dropped


async def purge_expired_downloads(services: Services) -> int:
    async with services.store.transaction() as tx:
        tokens = await tx.expired_downloads(services.clock())
    for token in tokens:
        services.blobs.delete(token)
    return len(tokens)


# Why a staff member may open an ID proof from the console: these codes, or
# words of their own (``other``), at most VIEW_REASON_MAX characters.
VIEW_REASONS = ("check_identity", "check_name", "customer_question", "audit")
VIEW_REASON_MAX = 200


class ViewRefused(Refused):
    """An ID proof is not opened: no reason given (``view_reason_missing``),
    one too long (``view_reason_long``), no such file (``no_proof``), or one
    that cannot be read (``file_unreadable``)."""


def view_reason(choice: str | None, typed: str | None) -> str:
    """The reason to record from what a form sent: a code of the list, or
    the words typed for ``other`` (stripped, one line)."""
    choice, words = (choice or "").strip(), " ".join((typed or "").split())
    if choice in VIEW_REASONS:
        return choice
    if not words:
        raise ViewRefused("view_reason_missing")
    if len(words) > VIEW_REASON_MAX:
        raise ViewRefused("view_reason_long", maximum=VIEW_REASON_MAX)
    return words


async def record_id_proof_view(
    services: Services,
    reference: str,
    token: str,
    viewer: str,
    purpose: str,
    reason: str,
    address: str | None = None,
) -> None:
    """Record a look at one of the request's ID proofs (who, through what,
    why), also in the request's history. The caller shows the file only after
    this committed: no unrecorded look."""
    now = services.clock()
    async with services.store.transaction() as tx:
        record = await tx.get_request(reference)
        files = record.attachments if record else ()
        number = next(
            (n for n, a in enumerate(files, 1) if a.token == token and a.deleted_at is None), 0
        )
        if not number:
            raise ViewRefused("no_proof")
        await tx.record_attachment_view(token, viewer, purpose, now, reason, address)
        actor = f"staff:{viewer}" if purpose == "console" else purpose
        # A code of the list by its name, typed words as words (history shows both).
        said = "reason_code" if reason in VIEW_REASONS else "reason"
        data = {"proof": number, said: reason, "via": purpose}
        await tx.add_request_event(reference, actor, "id_proof_viewed", data, now)


async def read_id_proof(services: Services, token: str) -> bytes:
    """The decrypted file. Only for a caller that recorded the look first
    (``record_id_proof_view``; the console's file URL is signed after it).
    A file gone from the disk or failing its check is refused
    (``file_unreadable``): staff are told, not shown a server error, and the
    log says which file so an admin can restore it."""
    try:
        return await off_loop(services.blobs.get, token)  # a disk read and decryption
    except (OSError, BlobUnreadable) as exc:
        log.error("stored file %s cannot be read: %s", token, type(exc).__name__)
        raise ViewRefused("file_unreadable") from exc


async def open_id_proof(
    services: Services,
    token: str,
    viewer: str,
    purpose: str,
    reason: str = "",
    address: str | None = None,
) -> bytes:
    """The decrypted file, with the view recorded first: no unrecorded look."""
    now = services.clock()
    async with services.store.transaction() as tx:
        await tx.record_attachment_view(token, viewer, purpose, now, reason, address)
    return await read_id_proof(services, token)

"""Applying what the dialogue decided, inside the message's transaction.

The dialogue is pure: it returns effects as data (keep this file, file this
request, send a code...). They are carried out here, all in the one
transaction of the message, so either all of them happen or none.
"""

from __future__ import annotations

import logging

from bot.conversation.codes import issue_code, record_attempt
from bot.conversation.replies import create_upload_link
from bot.conversation.work import Work
from bot.infra.cpu import off_loop
from bot.infra.directory import same_name
from bot.requests.lifecycle import apply_move, record_answer
from bot.requests.notify import notify
from bot.services import Services
from bot.store import Transaction
from flows.types import (
    AttachProof,
    CancelRequest,
    CodeAttempt,
    DiscardAttachments,
    Escalate,
    FileRequest,
    KeepAttachment,
    OfferUpload,
    ProvideInfo,
    RequestStatus,
    SendCode,
)

log = logging.getLogger(__name__)


async def apply_effects(services: Services, tx: Transaction, work: Work) -> None:
    assert work.outcome is not None and work.conversation is not None
    for effect in work.outcome.effects:
        if isinstance(effect, KeepAttachment):
            await _keep(services, tx, work, effect.token)
        elif isinstance(effect, DiscardAttachments):
            await tx.mark_attachments_deleted(effect.tokens, work.now)
            work.discarded.extend(effect.tokens)
        elif isinstance(effect, AttachProof):
            if effect.token in work.files:
                await _keep(services, tx, work, effect.token)
            await tx.link_attachment(effect.token, effect.reference)
            await tx.set_request_status(effect.reference, RequestStatus.VERIFYING, work.now)
            await tx.add_request_event(
                effect.reference, "customer", "id_proof_received", {}, work.now
            )
        elif isinstance(effect, FileRequest):
            await _file_request(services, tx, work, effect)
        elif isinstance(effect, SendCode):
            await issue_code(services, tx, work, effect)
        elif isinstance(effect, CodeAttempt):
            await record_attempt(services, tx, work, effect)
        elif isinstance(effect, ProvideInfo):
            asked = await tx.get_request(effect.reference)
            if asked is not None:  # the dialogue checked it still waits for this
                if effect.token:
                    await tx.link_attachment(effect.token, effect.reference)
                await record_answer(tx, asked, work.now, text=effect.text, file=bool(effect.token))
        elif isinstance(effect, CancelRequest):
            record = await tx.get_request(effect.reference)
            if record is not None:  # the dialogue checked it is this customer's own
                await apply_move(tx, record, "cancel", "customer", work.now)
        elif isinstance(effect, OfferUpload):
            if not work.conversation.channel.carries_files:
                work.upload_url = await create_upload_link(
                    services, tx, work.conversation, work.now
                )
        elif isinstance(effect, Escalate):
            await tx.record_escalation(work.conversation.id, effect.reason, work.now)
            log.info("conversation %s waiting for staff (%s)", work.conversation.id, effect.reason)


async def _keep(services: Services, tx: Transaction, work: Work, token: str) -> None:
    """Store an accepted file: metadata stripped, sealed, described in the database."""
    assert work.conversation is not None
    file = work.files[token]
    assert file.info.media_type and file.info.sha256
    await off_loop(services.blobs.put, token, file.data)  # sealing and a disk write
    work.written.append(token)
    await tx.insert_attachment(
        token=token,
        conversation_id=work.conversation.id,
        inbound_id=work.inbound_id,
        media_type=file.info.media_type,
        size=file.info.size,
        sha256=file.info.sha256,
        now=work.now,
    )


async def _file_request(
    services: Services, tx: Transaction, work: Work, effect: FileRequest
) -> None:
    assert work.conversation is not None and work.outcome is not None
    message, outcome, now = work.message, work.outcome, work.now
    fields = dict(effect.fields)
    code = await tx.get_code(work.conversation.id)
    email = fields.pop("email")
    if (
        code is None
        or code.purpose != "request"
        or code.verified_at is None
        or code.email.casefold() != email.casefold()
    ):
        # The dialogue only files after a verified code; refuse loudly if not.
        raise RuntimeError("refusing to file a request without a verified email")
    reason = fields.pop("reason", None)
    reason_code = fields.get("reason_code")
    if reason is None and reason_code and reason_code != "other":
        reason = services.catalogue.text(outcome.language, f"choice.deletion_reason.{reason_code}")
    full_name = fields.pop("full_name")
    mismatch = code.directory_name is not None and not same_name(full_name, code.directory_name)
    if mismatch:
        fields["name_mismatch"] = True
    status = RequestStatus.VERIFYING if effect.id_proof_token else RequestStatus.AWAITING_ID_PROOF
    await tx.insert_request(
        reference=effect.reference,
        type=effect.type,
        status=status,
        channel=message.channel,
        customer_address=message.address,
        conversation_id=work.conversation.id,
        language=outcome.language,
        full_name=full_name,
        email=email,
        reason=reason,
        details=fields,
        now=now,
        due_date=effect.due_date,
    )
    await tx.add_request_event(
        effect.reference,
        "customer",
        "filed",
        {"status": status.value, "email_verified": True},
        now,
    )
    if mismatch:
        # Not a refusal: staff decide whether the names are the same person.
        await tx.add_request_event(effect.reference, "system", "name_mismatch", {}, now)
    if effect.id_proof_token:
        await tx.link_attachment(effect.id_proof_token, effect.reference)
    # The chat acknowledgement is the receipt; its email copy is queued here.
    filed = await tx.get_request(effect.reference)
    assert filed is not None
    await notify(tx, filed, "receipt", now, serial=0, chat=False)

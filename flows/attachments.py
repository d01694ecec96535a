"""Files a customer sends: an ID proof for the draft or a filed request, or
more information staff asked for. Anything else is acknowledged and dropped."""

from __future__ import annotations

from flows.machine import fire
from flows.moves import advance, fail, unplaced
from flows.prompts import mb, prompt
from flows.run import Run
from flows.states import INFO, MENU, START
from flows.steps.info import info_wanted
from flows.types import (
    AttachmentInfo,
    AttachProof,
    DiscardAttachments,
    KeepAttachment,
    ProvideInfo,
    RequestStatus,
)


def attachments(run: Run, files: tuple[AttachmentInfo, ...], text_follows: bool) -> bool:
    """True when the files answered the message; False when they were only
    acknowledged and any text should still be read."""
    if run.state == INFO and info_wanted(run, run.slots.get("info_ref", "")):
        good = next((a for a in files if a.problem is None), None)
        if good is None:
            fail(run, f"hint.file_{files[0].problem}", limit_mb=mb(run.ctx))
            return True
        run.effect(KeepAttachment(good.token))
        run.effect(ProvideInfo(run.slots["info_ref"], "", good.token))
        run.say("info.received", reference=run.slots["info_ref"])
        return True
    if run.step == "id_proof":
        first = files[0]
        good = next((a for a in files if a.problem is None), None)
        if good is None:
            fail(run, f"hint.file_{first.problem}", limit_mb=mb(run.ctx))
            return True
        old = run.slots.get("id_proof")
        if old:
            run.effect(DiscardAttachments((old["token"],)))
        run.effect(KeepAttachment(good.token))
        run.slots["id_proof"] = {
            "token": good.token,
            "media_type": good.media_type,
            "size": good.size,
            "sha256": good.sha256,
        }
        run.slots.pop("id_later", None)
        run.say("proof.received")
        advance(run)
        return True
    if run.state in (START, MENU):
        waiting = [r for r in run.ctx.requests if r.status == RequestStatus.AWAITING_ID_PROOF]
        if waiting:
            good = next((a for a in files if a.problem is None), None)
            if good is None:
                fail(run, f"hint.file_{files[0].problem}", limit_mb=mb(run.ctx))
                return True
            if len(waiting) == 1:
                run.effect(AttachProof(waiting[0].reference, good.token))
                run.say("proof.attached_to", reference=waiting[0].reference)
                return True
            run.effect(KeepAttachment(good.token))
            run.slots = {"proof_token": good.token}
            fire(run, "choose_proof")
            prompt(run)
            return True
    run.say("file.ignored")
    if not text_follows and run.state in (START, MENU):
        return unplaced(run)
    return False

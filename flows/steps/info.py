"""Staff asked for more about a request: the customer's words (and files,
see ``flows.attachments``) go to it while staff have not acted on it again.
The first answer moves it to ``info_received``; more answers before staff
act are added to it (the engine records each, ``ProvideInfo``)."""

from __future__ import annotations

from flows.moves import reset
from flows.run import Run
from flows.states import INFO
from flows.steps.registry import answer, handles
from flows.types import INFO_WANTED, ProvideInfo


def info_wanted(run: Run, reference: str) -> bool:
    """Whether ``reference`` still takes what the customer sends: asked and
    not yet verified, rejected, cancelled... (a closed request takes nothing)."""
    return any(r.reference == reference and r.status in INFO_WANTED for r in run.ctx.requests)


@handles(INFO)
def on_info(run: Run, text: str, command: str | None) -> None:
    reference = run.slots.get("info_ref", "")
    if not info_wanted(run, reference):
        reset(run)  # the request moved on; the message is read as usual
        answer(run, text, command)
        return
    run.effect(ProvideInfo(reference, text, None))
    run.say("info.received", reference=reference)

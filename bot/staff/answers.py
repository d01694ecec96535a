"""Ready answers staff put in a chat's composer, in both languages.

The configured ones (``[canned]`` in the message catalogues) are the
defaults: copied into the database the first time the answers are read, and
from then on admins add, change and delete them in the console. Only admins
may change them; whether the caller is one is read here, in the same
transaction, not trusted from the door.
"""

from __future__ import annotations

from bot.domain.errors import Refused
from bot.services import Services
from bot.store.interface.chats import ReadyAnswer

MAX_ANSWER = 4000  # as long as a reply may be


class AnswerError(Refused, ValueError):
    """A refused change of a ready answer (``admin_only``, ``answer_length``, ``no_answer``)."""


def configured(services: Services) -> dict[str, tuple[str, str]]:
    """The catalogue's ready answers: key -> (Indonesian, English)."""
    texts = services.catalogue.texts
    own, other = texts.get("id", {}), texts.get("en", {})
    return {
        key.removeprefix("canned."): (text, other.get(key, text))
        for key, text in own.items()
        if key.startswith("canned.")
    }


async def ready_answers(services: Services) -> list[ReadyAnswer]:
    """Every ready answer; the configured ones are copied in on the first read."""
    async with services.store.transaction(readonly=True) as tx:
        if await tx.ready_answers_seeded():
            return await tx.ready_answers()
    async with services.store.transaction() as tx:
        await tx.seed_ready_answers(configured(services), services.clock())
        return await tx.ready_answers()


def find_answer(answers: list[ReadyAnswer], wanted: str) -> ReadyAnswer | None:
    """The answer a form names: by its number, or by its configured key."""
    for answer in answers:
        if str(answer.id) == wanted or (answer.key is not None and answer.key == wanted):
            return answer
    return None


async def _check_admin(services: Services, staff: str) -> None:
    async with services.store.transaction(readonly=True) as tx:
        account = await tx.staff_by_email(staff)
    if account is None or account.role != "admin" or account.disabled_at:
        raise AnswerError("admin_only")


def _cleaned(text: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_ANSWER:
        raise AnswerError("answer_length", maximum=MAX_ANSWER)
    return text


async def save_answer(
    services: Services, staff: str, answer_id: int | None, text_id: str, text_en: str
) -> None:
    """Add a ready answer (``answer_id`` None) or change one; both languages
    are required, so the customer always gets one in their own."""
    await _check_admin(services, staff)
    text_id, text_en = _cleaned(text_id), _cleaned(text_en)
    await ready_answers(services)  # the configured ones first, so they keep their place
    async with services.store.transaction() as tx:
        if not await tx.save_ready_answer(answer_id, text_id, text_en, staff, services.clock()):
            raise AnswerError("no_answer")


async def delete_answer(services: Services, staff: str, answer_id: int) -> None:
    await _check_admin(services, staff)
    await ready_answers(services)
    async with services.store.transaction() as tx:
        if not await tx.delete_ready_answer(answer_id):
            raise AnswerError("no_answer")

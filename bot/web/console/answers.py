"""The admins' page of ready answers (``/console/answers``): every answer in
both languages, whole; add one, change one, delete one (after a yes). The
work and the rule that only admins may do it are in ``bot.staff.answers``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.staff import answers as staff_answers
from bot.staff.accounts import Session
from bot.web.console.inbox_flash import chat_flash
from bot.web.console.pages import HEADERS, ConsolePages

PATH = "/console/answers"


def answer_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def page(request: Request, session: Session) -> Response:
        answers = await staff_answers.ready_answers(core.services)
        words = kit.words(session.language)
        asked = request.query_params.get("delete", "")
        return kit.render(
            request,
            "answers.html",
            session,
            kit.t(session, "canned"),
            nav="answers",
            notices=chat_flash(kit, request, session),
            answers=[(a, words.when(a.updated_at), words.actor(a.updated_by)) for a in answers],
            confirm_delete=int(asked) if asked.isdigit() and len(asked) < 19 else 0,
            limit=staff_answers.MAX_ANSWER,
        )

    async def save(request: Request, session: Session) -> Response:
        form = await request.form()
        number = str(form.get("id", ""))
        answer_id = int(number) if number.isdigit() and len(number) < 19 else None
        if number and answer_id is None:
            return Response(status_code=404, headers=HEADERS)
        try:
            await staff_answers.save_answer(
                core.services,
                session.email,
                answer_id,
                str(form.get("text_id", "")),
                str(form.get("text_en", "")),
            )
        except staff_answers.AnswerError as exc:
            return kit.refused(PATH, exc)
        return kit.flashed(PATH, session, "chats.answer_saved")

    async def delete(request: Request, session: Session) -> Response:
        answer_id = int(request.path_params["answer"])
        form = await request.form()
        if form.get("sure") not in ("1", "on"):
            return RedirectResponse(f"{PATH}?delete={answer_id}#answer-{answer_id}", 303)
        try:
            await staff_answers.delete_answer(core.services, session.email, answer_id)
        except staff_answers.AnswerError as exc:
            return kit.refused(PATH, exc)
        return kit.flashed(PATH, session, "chats.answer_deleted")

    return [
        Route(PATH, signed_in(page, admin=True), methods=["GET"]),
        Route(f"{PATH}/save", signed_in(save, admin=True), methods=["POST"]),
        Route(f"{PATH}/{{answer:rowid}}/delete", signed_in(delete, admin=True), methods=["POST"]),
    ]

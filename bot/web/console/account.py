"""A staff member's own account: changing their password. Everyone may, by
giving the current one; a one-time password (made by an admin or the command
line) must be changed here before any other console page opens
(``ConsolePages.signed_in`` sends every other page here until it is)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.staff.accounts import MIN_PASSWORD, Session, StaffError, change_own_password
from bot.web.console.pages import PASSWORD_PAGE, ConsolePages, Notice


def client_address(request: Request) -> str:
    """Where a request came from (behind the proxy: what uvicorn took from
    ``X-Forwarded-For``), for the audit."""
    return request.client.host if request.client else "unknown"


def account_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def password_page(
        request: Request, session: Session, notice: Notice | None = None, status: int = 200
    ) -> Response:
        return kit.render(
            request,
            "password.html",
            session,
            kit.t(session, "desk.password.title"),
            nav="password",
            status=status,
            notices=[notice] if notice else [],
            forced=session.must_change_password,
            minimum=MIN_PASSWORD,
        )

    async def change_password(request: Request, session: Session) -> Response:
        form = await request.form()
        current, new = str(form.get("current", "")), str(form.get("new", ""))
        if new != str(form.get("again", "")):
            notice = Notice("error", kit.t(session, "problem.password_differs"))
            return await password_page(request, session, notice, 400)
        try:
            await change_own_password(
                core.services, session, current, new, address=client_address(request)
            )
        except StaffError as exc:
            return await password_page(request, session, kit.problem(session, exc), 400)
        # Done: to the console (after a one-time password) or back here, said once.
        target = "/console/dashboard" if session.must_change_password else PASSWORD_PAGE
        return kit.flashed(target, session, "password_changed")

    return [
        Route(PASSWORD_PAGE, signed_in(password_page), methods=["GET"]),
        Route(PASSWORD_PAGE, signed_in(change_password), methods=["POST"]),
    ]

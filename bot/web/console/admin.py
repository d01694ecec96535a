"""Admin pages of the console: staff accounts (add with a one-time password,
role, disable, new password; each change kept with who made it) and the
settings in force, secrets hidden.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.settings import visible_settings
from bot.staff.accounts import ROLES, Session, StaffError, add_staff, change_staff
from bot.web.console.pages import ConsolePages, Notice


@dataclass(frozen=True)
class OneTimePassword:
    """A new password, shown once in the answer to the form that made it."""

    email: str
    value: str


def admin_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def staff_page(
        request: Request,
        session: Session,
        notice: Notice | None = None,
        status: int = 200,
        password: OneTimePassword | None = None,
    ) -> Response:
        """Admins: accounts (add, role, disable, new password) and their history."""
        async with core.services.store.transaction(readonly=True) as tx:
            members = await tx.list_staff()
            history = await tx.staff_audit(50)
        return kit.render(
            request,
            "staff.html",
            session,
            kit.t(session, "staff"),
            nav="staff",
            status=status,
            notices=[notice] if notice else [],
            members=members,
            history=history,
            roles=ROLES,
            password=password,
            now=core.services.clock(),
        )

    async def staff_add(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", "")).strip().lower()
        password = secrets.token_urlsafe(12)
        try:
            await add_staff(
                core.services, email, str(form.get("role", "")), password, actor=session.email
            )
        except StaffError as exc:
            return await staff_page(request, session, kit.problem(session, exc), 400)
        # Shown once in this answer (never cached, never in a URL), never stored in clear.
        return await staff_page(request, session, password=OneTimePassword(email, password))

    async def staff_change(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", ""))
        try:
            password = await change_staff(
                core.services, session.email, email, str(form.get("action", ""))
            )
        except StaffError as exc:
            return await staff_page(request, session, kit.problem(session, exc), 400)
        if password:
            return await staff_page(request, session, password=OneTimePassword(email, password))
        return await staff_page(request, session, kit.done(session))

    async def settings_page(request: Request, session: Session) -> Response:
        """Admins: the settings in force. They come from the environment (or
        ``.env``) and are read at start, so they are shown here, not edited;
        secrets are never shown."""
        return kit.render(
            request,
            "settings.html",
            session,
            kit.t(session, "settings"),
            nav="settings",
            rows=visible_settings(core.settings),
        )

    return [
        Route("/console/staff", signed_in(staff_page, admin=True), methods=["GET"]),
        Route("/console/staff/add", signed_in(staff_add, admin=True), methods=["POST"]),
        Route("/console/staff/change", signed_in(staff_change, admin=True), methods=["POST"]),
        Route("/console/settings", signed_in(settings_page, admin=True), methods=["GET"]),
    ]

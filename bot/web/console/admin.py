"""Admin pages of the console: staff accounts (add with a one-time password,
role, disable, new password, unlock; each change kept with who made it and
from where) and the settings in force, secrets hidden.

Disabling an account and making it a new password are behind a confirmation:
a dialog (``confirm.js``) or, without script, a page of its own
(``/console/staff/confirm``); the change itself asks for ``confirmed``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.settings import visible_settings
from bot.staff.accounts import ROLES, Session, StaffError, add_staff, change_staff
from bot.web.console.account import client_address
from bot.web.console.pages import ConsolePages, Notice

# Changes that cannot be taken back with a click: asked again first.
CONFIRMED_ACTIONS = ("disable", "reset_password")


@dataclass(frozen=True)
class OneTimePassword:
    """A new password, shown once in the answer to the form that made it."""

    email: str
    value: str


def _row_actions(role: str, disabled: bool, locked: bool) -> list[str]:
    """The changes an account's row offers, in the order shown."""
    actions = ["make_agent" if role == "admin" else "make_admin"]
    actions.append("enable" if disabled else "disable")
    if locked:
        actions.append("unlock")
    actions.append("reset_password")
    return actions


def admin_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, signed_in = kit.core, kit.signed_in

    async def staff_page(
        request: Request,
        session: Session,
        notice: Notice | None = None,
        status: int = 200,
        password: OneTimePassword | None = None,
    ) -> Response:
        """Admins: accounts (add, role, disable, new password, unlock) and their history."""
        async with core.services.store.transaction(readonly=True) as tx:
            members = await tx.list_staff()
            history = await tx.staff_audit(50)
        now = core.services.clock()
        return kit.render(
            request,
            "staff.html",
            session,
            kit.t(session, "staff"),
            nav="staff",
            status=status,
            notices=[notice] if notice else [],
            members=members,
            actions={
                m.email: _row_actions(
                    m.role, bool(m.disabled_at), bool(m.locked_until and m.locked_until > now)
                )
                for m in members
            },
            confirmed_actions=CONFIRMED_ACTIONS,
            history=history,
            roles=ROLES,
            password=password,
            now=now,
        )

    async def staff_add(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", "")).strip().lower()[:200]
        password = secrets.token_urlsafe(12)
        try:
            await add_staff(
                core.services,
                email,
                str(form.get("role", "")),
                password,
                actor=session.email,
                one_time=True,
                address=client_address(request),
            )
        except StaffError as exc:
            return await staff_page(request, session, kit.problem(session, exc), 400)
        # Shown once in this answer (never cached, never in a URL), never stored
        # in clear: the one answer to a form that is not a redirect.
        return await staff_page(request, session, password=OneTimePassword(email, password))

    async def staff_confirm(request: Request, session: Session) -> Response:
        """Without script: the confirmation the dialog would have asked."""
        email = request.query_params.get("email", "")[:200]
        action = request.query_params.get("action", "")
        if action not in CONFIRMED_ACTIONS:
            return RedirectResponse("/console/staff", status_code=303)
        return kit.render(
            request,
            "staff_confirm.html",
            session,
            kit.t(session, f"desk.confirm.{action}.title"),
            nav="staff",
            email=email,
            action=action,
        )

    async def staff_change(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", ""))[:200]
        action = str(form.get("action", ""))
        if action in CONFIRMED_ACTIONS and form.get("confirmed") != "yes":
            query = urlencode({"email": email, "action": action})
            return RedirectResponse(f"/console/staff/confirm?{query}", status_code=303)
        try:
            password = await change_staff(
                core.services, session.email, email, action, address=client_address(request)
            )
        except StaffError as exc:
            return await staff_page(request, session, kit.problem(session, exc), 400)
        if password:
            return await staff_page(request, session, password=OneTimePassword(email, password))
        return kit.flashed("/console/staff", session)

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
        Route("/console/staff/confirm", signed_in(staff_confirm, admin=True), methods=["GET"]),
        Route("/console/staff/change", signed_in(staff_change, admin=True), methods=["POST"]),
        Route("/console/settings", signed_in(settings_page, admin=True), methods=["GET"]),
    ]

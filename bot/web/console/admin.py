"""Admin pages of the console: staff accounts (add with a one-time password,
role, disable, new password; each change kept with who made it) and the
settings in force, secrets hidden.
"""

from __future__ import annotations

import html
import secrets
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.settings import visible_settings
from bot.staff.accounts import ROLES, Session, StaffError, add_staff, change_staff
from bot.web.console.pages import ConsolePages


def admin_routes(kit: ConsolePages) -> list[BaseRoute]:
    core, t, page, signed_in = kit.core, kit.t, kit.page, kit.signed_in

    async def staff_page(
        request: Request, session: Session, notice: str = "", status: int = 200
    ) -> Response:
        """Admins: accounts (add, role, disable, new password) and their history."""
        async with core.services.store.transaction(readonly=True) as tx:
            members = await tx.list_staff()
            history = await tx.staff_audit(50)

        def button(email: str, action: str) -> str:
            return (
                f'<form class="inline" method="post" action="/console/staff/change">'
                f'<input type="hidden" name="csrf" value="{session.csrf}">'
                f'<input type="hidden" name="email" value="{html.escape(email)}">'
                f'<button type="submit" name="action" value="{action}">'
                f"{t(session, f'account.{action}')}</button></form> "
            )

        rows = []
        for m in members:
            state = t(session, "account.disabled") if m.disabled_at else ""
            actions = ""
            if m.email != session.email:
                actions = button(m.email, "make_agent" if m.role == "admin" else "make_admin")
                actions += button(m.email, "enable" if m.disabled_at else "disable")
                actions += button(m.email, "reset_password")
            rows.append(
                f"<tr><td>{html.escape(m.email)}</td><td>{m.role}</td>"
                f"<td>{state}</td><td>{actions}</td></tr>"
            )
        roles = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
        zone = ZoneInfo(core.settings.timezone)
        log = "".join(
            f"<tr><td>{a.created_at.astimezone(zone):%Y-%m-%d %H:%M}"
            f"</td><td>{html.escape(a.actor)}</td>"
            f"<td>{html.escape(a.action)}</td><td>{html.escape(a.subject)}</td></tr>"
            for a in history
        )
        body = (
            f"<h1>{t(session, 'staff')}</h1>{notice}"
            f'<div class="card"><table>{"".join(rows)}</table></div>'
            f'<div class="card"><h2>{t(session, "account.add")}</h2>'
            f'<form method="post" action="/console/staff/add">'
            f'<input type="hidden" name="csrf" value="{session.csrf}">'
            f'<input name="email" type="email" required placeholder="{t(session, "email")}"> '
            f'<select name="role">{roles}</select> '
            f'<button type="submit">{t(session, "account.add")}</button></form></div>'
            f'<div class="card"><h2>{t(session, "events")}</h2><table>{log}</table></div>'
            f'<p><a href="/console/settings">{t(session, "settings")}</a></p>'
        )
        return page(session.language, body, session, status)

    def one_time(session: Session, email: str, password: str) -> str:
        return (
            f'<p class="msg">{t(session, "account.password_once", email=email)}</p>'
            f'<div class="card"><code id="password">{html.escape(password)}</code></div>'
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
        return await staff_page(request, session, one_time(session, email, password))

    async def staff_change(request: Request, session: Session) -> Response:
        form = await request.form()
        email = str(form.get("email", ""))
        try:
            password = await change_staff(
                core.services, session.email, email, str(form.get("action", ""))
            )
        except StaffError as exc:
            return await staff_page(request, session, kit.problem(session, exc), 400)
        notice = (
            one_time(session, email, password)
            if password
            else f'<p class="msg">{t(session, "done")}</p>'
        )
        return await staff_page(request, session, notice)

    async def settings_page(request: Request, session: Session) -> Response:
        """Admins: the settings in force. They come from the environment (or
        ``.env``) and are read at start, so they are shown here, not edited;
        secrets are never shown."""
        rows = "".join(
            f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
            for name, value in visible_settings(core.settings)
        )
        body = (
            f"<h1>{t(session, 'settings')}</h1><p>{t(session, 'settings_hint')}</p>"
            f'<div class="card"><table>{rows}</table></div>'
        )
        return page(session.language, body, session)

    return [
        Route("/console/staff", signed_in(staff_page, admin=True), methods=["GET"]),
        Route("/console/staff/add", signed_in(staff_add, admin=True), methods=["POST"]),
        Route("/console/staff/change", signed_in(staff_change, admin=True), methods=["POST"]),
        Route("/console/settings", signed_in(settings_page, admin=True), methods=["GET"]),
    ]

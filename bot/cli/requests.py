"""``privacybot requests``: list, show and act on requests, and read an ID proof.

Every act goes through the same use cases as the console and the API
(``bot.requests.actions``); a refusal is printed in English from the catalogue.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import open_core, open_services
from bot.cli.errors import CliError
from bot.delivery.notifications import retry_notification
from bot.domain.models import RequestRecord
from bot.infra.clock import utc_now
from bot.requests import actions
from bot.requests.lifecycle import MOVES, Deadline, deadline
from bot.requests.lookup import (
    find_request,
    list_requests,
    notifications_of,
    request_detail,
    request_summary,
)
from bot.settings import Settings
from flows.types import RequestStatus


async def proof_command(args: argparse.Namespace, settings: Settings) -> int:
    """One ID proof to stdout, its view recorded first with who and why, as
    the console records a reveal (the same history line and audit entry)."""
    from bot.requests.retention import read_id_proof, record_id_proof_view, view_reason

    if sys.stdout.isatty():
        raise CliError("the ID proof is binary: redirect it, e.g. > proof.jpg")
    reason = view_reason(args.reason, args.reason)  # a code of the list, or words
    async with open_services(settings) as services:
        record = await find_request(services.store, args.reference)
        files = record.attachments
        number = args.number or max(
            (n for n, a in enumerate(files, 1) if a.deleted_at is None), default=0
        )
        if not 1 <= number <= len(files) or files[number - 1].deleted_at is not None:
            raise CliError(f"{record.reference} has no stored ID proof number {number or 1}")
        token = files[number - 1].token
        await record_id_proof_view(services, record.reference, token, args.viewer, "cli", reason)
        data = await read_id_proof(services, token)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


async def notices_command(args: argparse.Namespace, settings: Settings) -> int:
    """The notifications of a request (``notifications``), or one failed
    notification sent again (``retry``, as the console's button and the API)."""
    async with open_services(settings) as services:
        if args.action == "retry":
            actor = f"staff:{args.by or getpass.getuser()}"
            record = await find_request(services.store, args.reference)
            await retry_notification(services, record.reference, args.notification, actor)
            sys.stdout.write(
                f"{record.reference}: notification {args.notification} queued again, "
                f"recorded for {actor}\n"
            )
            return 0
        found = await notifications_of(services.store, args.reference)
    if args.json:
        _print_json(found)
    elif not found:
        sys.stdout.write("No notifications.\n")
    else:
        header = ("ID", "KIND", "CHANNEL", "STATUS", "DELIVERY", "ATTEMPTS", "LAST ERROR")
        rows = [
            (
                str(n["id"]),
                n["kind"],
                n["channel"],
                n["status"],
                n["delivery"] or "-",
                str(n["attempts"]),
                n["last_error"] or "-",
            )
            for n in found
        ]
        _print_columns(header, rows)
    return 0


async def requests_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "proof":
        return await proof_command(args, settings)
    if args.action in ("notifications", "retry"):
        return await notices_command(args, settings)
    if args.action in MOVES:
        return await _move(args, settings)
    async with open_core(settings) as store:
        if args.action == "list":
            status = RequestStatus(args.status) if args.status else None
            today = utc_now().astimezone(ZoneInfo(settings.timezone)).date()
            found = [(r, deadline(r, today)) for r in await list_requests(store, status)]
            if args.overdue:
                found = [(r, d) for r, d in found if d.overdue]
            if args.due_within is not None:
                found = [
                    (r, d)
                    for r, d in found
                    if r.status.is_open and d.business_days_left <= args.due_within
                ]
            if args.json:
                _print_json([{**request_summary(r), **_deadline_json(d)} for r, d in found])
            else:
                _print_table(found, settings)
            return 0
        record = await find_request(store, args.reference)
        today = utc_now().astimezone(ZoneInfo(settings.timezone)).date()
        if args.json:
            _print_json({**request_detail(record), **_deadline_json(deadline(record, today))})
        else:
            _print_detail(record, settings)
        return 0


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


async def _move(args: argparse.Namespace, settings: Settings) -> int:
    """One staff act through ``bot.requests.actions``, as the console and the API."""
    from bot.requests.exports import read_exports

    actor = f"staff:{args.by or getpass.getuser()}"
    reference, reason = args.reference, getattr(args, "reason", None)
    async with open_services(settings) as services:
        if args.action == "complete":
            files = read_exports(args.export) if args.export else None
            result = await actions.complete(services, reference, actor, files=files, reason=reason)
            if files:
                sys.stdout.write(
                    f"{result.request.reference}: completed; the data copy is ready and the "
                    f"customer is sent a download link, recorded for {actor}\n"
                )
                return 0
        elif args.action == "ask":
            result = await actions.ask(services, reference, actor, args.message)
        elif args.action == "reject":
            result = await actions.reject(services, reference, actor, reason)
        elif args.action == "delay":
            result = await actions.delay(services, reference, actor, reason, args.until)
        elif args.action == "verify":
            result = await actions.verify(services, reference, actor, reason=reason)
        else:
            result = await actions.cancel(services, reference, actor, reason=reason)
    r = result.request
    change = (
        f"{result.previous.value} -> {r.status.value}"
        if r.status is not result.previous
        else f"{args.action}, still {r.status.value}"
    )
    sys.stdout.write(
        f"{r.reference}: {change} (due {r.due_date.isoformat()}), recorded for {actor}\n"
    )
    return 0


def _deadline_json(d: Deadline) -> dict[str, Any]:
    return {
        "business_days_left": d.business_days_left,
        "due_soon": d.due_soon,
        "overdue": d.overdue,
    }


def _print_table(found: list[tuple[RequestRecord, Deadline]], settings: Settings) -> None:
    if not found:
        sys.stdout.write("No requests.\n")
        return
    zone = ZoneInfo(settings.timezone)
    header = ("REFERENCE", "TYPE", "STATUS", "CHANNEL", "FILED", "DUE", "DAYS LEFT")
    rows = [
        (
            r.reference,
            r.type.value,
            r.status.value,
            r.channel.value,
            r.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            r.due_date.isoformat(),
            (
                f"{d.business_days_left}"
                + (" OVERDUE" if d.overdue else " due soon" if d.due_soon else "")
                if r.status.is_open
                else "-"
            ),
        )
        for r, d in found
    ]
    _print_columns(header, rows)


def _print_columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        sys.stdout.write(
            "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def _print_detail(r: RequestRecord, settings: Settings) -> None:
    zone = ZoneInfo(settings.timezone)
    data = request_detail(r)
    lines = [f"{k}: {data[k] if data[k] is not None else '-'}" for k in request_summary(r)]
    lines.append(f"details: {json.dumps(r.details, ensure_ascii=False)}")
    lines.append("id proof:")
    if not r.attachments:
        lines.append("  (none yet)")
    for a in r.attachments:
        state = f"deleted {a.deleted_at.isoformat()}" if a.deleted_at else "stored"
        lines.append(f"  {a.media_type}, {a.size} bytes, sha256 {a.sha256}, {state}")
    lines.append("events:")
    for e in r.events:
        when = e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        extra = f" {json.dumps(e.data, ensure_ascii=False)}" if e.data else ""
        lines.append(f"  {when}  {e.actor}  {e.kind}{extra}")
    sys.stdout.write("\n".join(lines) + "\n")

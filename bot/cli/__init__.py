"""The ``privacybot`` command line.

Every failure a user can cause ends in one line on stderr and a non-zero
exit status, never a traceback: 2 for a wrong command line, 1 for anything
else (unknown reference, unusable database or settings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from bot.app import open_core, open_engine, open_services
from bot.cli.database import add_parser as add_db_parser
from bot.cli.database import db_command
from bot.cli.errors import PROG, CliError
from bot.cli.requests import requests_command
from bot.domain.errors import Refused
from bot.infra.catalogue import Catalogue
from bot.infra.clock import utc_now
from bot.infra.logs import configure as configure_logging
from bot.services import Services
from bot.settings import Settings, SettingsError, load_settings
from bot.store import StoreError
from flows.types import RequestStatus


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="JOVA POS privacy desk")
    parser.add_argument("--data-dir", help="folder for the database and files (default ./data)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    chat = commands.add_parser("chat", help="talk to the bot as a customer on this terminal")
    chat.add_argument("--user", help="customer id on the terminal channel (default: your login)")
    chat.add_argument("--lang", choices=("id", "en"), help="conversation language")

    requests = commands.add_parser("requests", help="staff views of filed requests")
    views = requests.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = views.add_parser("list", help="list requests, soonest due first")
    listing.add_argument(
        "--status",
        choices=[s.value for s in RequestStatus],
        help="only this status (info_received: the customer answered staff's ask)",
    )
    listing.add_argument("--overdue", action="store_true", help="only open requests past due")
    listing.add_argument(
        "--due-within",
        type=_days,
        metavar="N",
        help="only open requests due within N business days",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = views.add_parser("show", help="one request with its files and history")
    show.add_argument("reference", help="e.g. DEL-7K3M9Q")
    show.add_argument("--json", action="store_true", help="print JSON")

    for action, text in (
        ("verify", "identity accepted: the request is in progress"),
        ("ask", "ask the customer for more information (needs_info; their answer: info_received)"),
        ("reject", "reject the request, with the reason"),
        ("delay", "move the due date, with the reason"),
        ("complete", "the request is done"),
        ("cancel", "cancel the request"),
    ):
        move = views.add_parser(action, help=text)
        move.add_argument("reference", help="e.g. DEL-7K3M9Q")
        move.add_argument("--by", help="who acts (recorded; default: your login)")
        if action == "ask":
            move.add_argument("--message", required=True, help="what the customer is asked")
        if action in ("reject", "delay"):
            move.add_argument("--reason", required=True, help="why (recorded)")
        if action == "delay":
            move.add_argument("--until", required=True, type=_date, help="new due date YYYY-MM-DD")
        if action in ("verify", "complete", "cancel"):
            move.add_argument("--reason", help="why (recorded)")
        if action == "complete":
            move.add_argument(
                "--export",
                action="append",
                default=[],
                metavar="FILE",
                help="access requests: a back-office file for the customer's data copy",
            )

    notices = views.add_parser(
        "notifications", help="the notifications sent for a request, with their delivery state"
    )
    notices.add_argument("reference", help="e.g. DEL-7K3M9Q")
    notices.add_argument("--json", action="store_true", help="print JSON")
    retry = views.add_parser("retry", help="send a failed notification again")
    retry.add_argument("reference", help="e.g. DEL-7K3M9Q")
    retry.add_argument("notification", type=int, help="its id (see `requests notifications`)")
    retry.add_argument("--by", help="who acts (recorded; default: your login)")

    proof = views.add_parser(
        "proof", help="write a request's ID proof to stdout (the view is recorded)"
    )
    proof.add_argument("reference", help="e.g. DEL-7K3M9Q")
    proof.add_argument("--viewer", required=True, help="who is looking (recorded)")
    proof.add_argument(
        "--reason",
        required=True,
        help="why (recorded): check_identity, check_name, customer_question, audit, "
        "or your own words",
    )
    proof.add_argument(
        "--number", type=int, default=0, help="which file, 1 = the first sent (default: latest)"
    )

    serve = commands.add_parser("serve", help="run the web server for Telegram, WhatsApp and SMS")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8080)

    accounts = commands.add_parser("accounts", help="the local account directory")
    account_actions = accounts.add_subparsers(dest="action", metavar="ACTION", required=True)
    importing = account_actions.add_parser(
        "import", help="add or update accounts from a CSV (email,full_name,phone)"
    )
    importing.add_argument("file", help="CSV file with a header line")

    commands.add_parser(
        "purge", help="delete ID proofs past their retention and abandoned drafts now"
    )

    staff = commands.add_parser("staff", help="staff accounts of the console")
    staff_actions = staff.add_subparsers(dest="action", metavar="ACTION", required=True)
    adding = staff_actions.add_parser("add", help="a new staff account")
    adding.add_argument("email")
    adding.add_argument("--role", choices=("agent", "admin"), default="agent")
    adding.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )

    add_db_parser(commands)

    tokens = commands.add_parser("api-token", help="bearer tokens of the back-office API")
    token_actions = tokens.add_subparsers(dest="action", metavar="ACTION", required=True)
    creating = token_actions.add_parser("create", help="a new token, printed once")
    creating.add_argument("name", help="what uses it, e.g. pos-backoffice")
    return parser


def _days(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"invalid number of days {value!r}")
    return int(value)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {value!r} (YYYY-MM-DD)") from None


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {value!r} (1-65535)")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # the database, keys, mail and files are for this user only
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(dotenv=Path(".env"), data_dir=args.data_dir)
        level = logging.getLevelName(settings.log_level.upper())
        if args.command == "chat":  # the terminal is the conversation: keep it clean
            level = max(level, logging.ERROR)
        configure_logging(level, sys.stderr)  # masked: no email, phone, code or token
        return asyncio.run(_run(args, settings))
    except KeyboardInterrupt:
        return 130
    except (CliError, SettingsError, StoreError) as exc:
        _fail(str(exc))
    except Refused as exc:  # in English, from the catalogue, as the API words it
        _fail(Catalogue.load().refusal("en", exc.key, exc.params))
    except Exception as exc:  # a bug: say so in one line, keep the details out of sight
        logging.getLogger(PROG).debug("unexpected error", exc_info=True)
        _fail(f"internal error ({type(exc).__name__}); run with PRIVACYBOT_LOG_LEVEL=DEBUG")
    return 1


def _fail(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "chat":
        return await _chat(args, settings)
    if args.command == "requests":
        return await requests_command(args, settings)
    if args.command == "serve":
        return await _serve(args, settings)
    if args.command == "accounts":
        return await _import_accounts(args, settings)
    if args.command == "purge":
        return await _purge(settings)
    if args.command == "db":
        return await db_command(args, settings)
    if args.command == "api-token":
        return await _create_token(args, settings)
    if args.command == "staff":
        return await _add_staff(args, settings)
    raise CliError(f"unknown command {args.command!r}")


async def show_pending_notifications(services: Services, channel: Any) -> None:
    """The terminal has no push: news about the customer's requests, and what
    staff wrote in the chat meanwhile, are shown when they open the chat (and
    before each prompt while it is open), oldest first, each once."""
    from bot.delivery.notifications import render_text
    from bot.domain.models import Channel

    async with services.store.transaction(readonly=True) as tx:
        notices = await tx.pending_notifications("terminal", channel.user)
        from_staff = await tx.pending_staff_messages(Channel.TERMINAL, channel.user)
    pending = [(n.created_at, 0, n.id, n) for n in notices] + [
        (m.created_at, 1, m.id, m) for m in from_staff
    ]
    wiped = False
    for _, kind, id_, item in sorted(pending, key=lambda p: p[:3]):
        if kind == 0:
            channel.show_text(render_text(services.catalogue, services.keyring, item))
        else:
            channel.show_text(item.text)
        async with services.store.transaction() as tx:
            if kind == 0:
                wiped = await tx.notification_sent(id_, None, services.clock()) or wiped
            else:
                await tx.mark_sent(id_, None, services.clock())
    if wiped:  # a forgotten customer's last notice: off every file on disk too, as the worker
        await services.store.scrub_wal()


async def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from integrations.terminal import TerminalChannel

    user = args.user or getpass.getuser() or "customer"
    if not user.strip() or len(user) > 100:
        raise CliError("--user must be 1 to 100 characters")
    language = args.lang or settings.default_language
    async with open_engine(settings) as engine:
        await engine.discard_stale_drafts()
        if args.lang:
            await engine.set_language(TerminalChannel.channel, user, args.lang)
        channel = TerminalChannel(
            engine,
            user=user,
            stdin=sys.stdin,
            stdout=sys.stdout,
            interactive=sys.stdin.isatty(),
            language=language,
            before_prompt=lambda: show_pending_notifications(engine.services, channel),
        )
        # No mail server: the customer's mail is shown here, marked as such.
        engine.services.mailer.watch(channel.show_dev_mail)
        await channel.run()
    return 0


def _server_class() -> type:
    from bot.web.app import Server as WebServer

    class Server(WebServer):
        """uvicorn re-raises SIGTERM after a graceful shutdown, so the process
        would die of it; a requested stop is a normal exit here (0; 130 for
        Ctrl-C)."""

        interrupted = False

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            originals = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            # What start-up built (modules, catalogues, the holiday table)
            # lives as long as the process: out of the cyclic collector's
            # way, so its full passes under load stop walking it (a few
            # per cent of a busy server's time). Collected first, so no
            # garbage is kept for good.
            gc.collect()
            gc.freeze()

        def _stop(self, sig: int, frame: object) -> None:
            self.interrupted = self.interrupted or sig == signal.SIGINT
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    return Server


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    _Server = _server_class()

    from bot.core import Core
    from bot.web.app import create_app

    log = logging.getLogger(PROG)
    core = Core(settings)
    if settings.twilio_enabled:
        from integrations.twilio.adapter import TwilioAdapter

        core.channels.adapters.append(TwilioAdapter(core))
    else:
        log.warning(
            "WhatsApp and SMS are disabled: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"
        )
    if settings.telegram_enabled:
        from integrations.telegram import TelegramAdapter

        core.channels.adapters.append(TelegramAdapter(core))
    else:
        log.warning("Telegram is disabled: TELEGRAM_BOT_TOKEN is not set")
    config = uvicorn.Config(
        create_app(core),
        host=args.host,
        port=args.port,
        lifespan="on",
        log_config=None,
        access_log=False,  # paths carry upload tokens: never log them
        server_header=False,
    )
    server = _Server(config, core)
    await server.serve()
    if not server.started:
        raise CliError(f"could not serve on {args.host}:{args.port} (see the log above)")
    return 130 if server.interrupted else 0


async def _import_accounts(args: argparse.Namespace, settings: Settings) -> int:
    from bot.infra.directory import ImportProblem, parse_accounts_csv

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CliError(f"no file {args.file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {type(exc).__name__}") from None
    try:
        rows = parse_accounts_csv(text)
    except ImportProblem as exc:
        raise CliError(f"{args.file}: {exc}") from None
    async with open_core(settings) as store, store.transaction() as tx:
        count = await tx.import_accounts(rows, utc_now())
    sys.stdout.write(f"Imported {count} accounts.\n")
    return 0


async def _add_staff(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff.accounts import add_staff

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise CliError("the passwords differ")
    else:
        raise CliError("no terminal for the password prompt: use --password-stdin")
    async with open_services(settings) as services:
        # The password was made for its owner: a one-time one, changed at the first login.
        await add_staff(services, args.email, args.role, password, one_time=True)
    sys.stdout.write(f"Added {args.email.lower()} ({args.role}).\n")
    return 0


async def _create_token(args: argparse.Namespace, settings: Settings) -> int:
    import secrets

    from bot.infra.crypto import hash_token

    name = args.name.strip()
    if not name or len(name) > 100:
        raise CliError("the token name must be 1 to 100 characters")
    token = secrets.token_urlsafe(32)
    async with open_core(settings) as store, store.transaction() as tx:
        await tx.create_api_token(name, hash_token(token), utc_now())
    sys.stdout.write(f"API token for {name} (shown only now; keep it secret):\n{token}\n")
    return 0


async def _purge(settings: Settings) -> int:
    from bot.housekeeping import purge

    async with open_engine(settings) as engine:
        report = await purge(engine.services, engine)
    sys.stdout.write(
        f"Deleted {report.id_proofs} ID proofs past retention and "
        f"{report.drafts} abandoned drafts.\n"
    )
    if report.orphans or report.forgotten:
        sys.stdout.write(
            f"Also removed {report.orphans} unreferenced files and forgot "
            f"{report.forgotten} customers of completed deletions.\n"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``privacybot db``: the database itself (deploy pipelines, moving to
PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.errors import CliError
from bot.settings import POSTGRES_SCHEMES, Settings
from bot.store import StoreError, open_store


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="the database itself")
    actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "upgrade", help="bring the schema up to date now (the server also does it at start)"
    )
    copying = actions.add_parser(
        "copy",
        help="copy this SQLite database into an empty PostgreSQL database (servers stopped)",
    )
    copying.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    )


async def db_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "copy":
        return await _copy(args.to, settings)
    return await _upgrade(settings)


async def _upgrade(settings: Settings) -> int:
    """For deploy pipelines: migrate before the new release starts serving."""
    store = open_store(settings)
    await store.open()
    try:
        version = await store.schema_version()
    finally:
        await store.close()
    if store.applied:
        done = ", ".join(str(v) for v in store.applied)
        sys.stdout.write(f"Database schema upgraded to version {version} (applied: {done}).\n")
    else:
        sys.stdout.write(f"Database schema already at version {version}.\n")
    return 0


async def _copy(target: str, settings: Settings) -> int:
    import psycopg

    from bot.store.copying import copy_database
    from bot.store.postgres.store import first_line

    if settings.postgres:
        raise CliError("this deployment already uses PostgreSQL (PRIVACYBOT_DATABASE_URL)")
    if not target.startswith(POSTGRES_SCHEMES):
        raise CliError("--to must be a postgresql:// URL")
    try:  # reachable, before anything is done
        await asyncio.to_thread(lambda: psycopg.connect(target, connect_timeout=10).close())
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL: {first_line(exc)}") from None
    source = open_store(settings)
    await source.open()  # the source's schema at the newest revision, as the target's
    await source.close()
    try:
        counts = await asyncio.to_thread(copy_database, settings.database_path, target)
    except StoreError:
        raise
    except Exception as exc:  # psycopg's, or SQLAlchemy's around them while migrating
        raise StoreError(f"PostgreSQL: {first_line(exc)}") from None
    sys.stdout.write(f"Copied {settings.database_path} into PostgreSQL:\n")
    for table, rows in counts.items():
        sys.stdout.write(f"  {table}: {rows} rows\n")
    sys.stdout.write(
        f"Copied {sum(counts.values())} rows in {len(counts)} tables; every count matches.\n"
        "Next: set PRIVACYBOT_DATABASE_URL to that URL on every instance (with the same "
        "PRIVACYBOT_SECRET_KEY and the shared data folder) and start them.\n"
    )
    return 0

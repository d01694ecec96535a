"""How long the server takes to render each console page on a busy desk.

    .venv/bin/python scripts/bench_console.py [--requests 10000] [--chats 1000]

Seeds a fresh database in a temporary folder (10,000 requests of every type
and status with names, emails, events and ID-proof records; 1,000 chats with
transcripts, some waiting for staff, some held, some closed) by direct
inserts in one transaction; starts the real app in this process (uvicorn, as
``privacybot serve`` does) behind a timer that measures each request from
its arrival to the last byte of its answer; logs in as an admin; and asks
for every console page many times. It prints one table, page by page: the
server time's median, 95th percentile and maximum in milliseconds, with
``/healthz`` (a bare endpoint) as the floor of the same run.

The pages are found, not listed: every GET route of the console, its path
parameters filled from the seeded desk (a request of each type, a chat in
each state), plus the queue's searches and the links a page offers to
itself (tabs, sorting, paging: the last page among them). A page that
answers 404, a redirect or a file is left out with a note. Not a test:
nothing fails on speed. ``--profile PATH`` also profiles that page (with
pyinstrument when it is installed, else cProfile) and times its SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from bench_seed import Desk, seed  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bot.core import Core  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.staff.accounts import add_staff  # noqa: E402
from bot.store.sqlite.connection import SQLiteStore  # noqa: E402
from bot.web.app import Server, create_app  # noqa: E402
from bot.web.console.routes import console_routes  # noqa: E402

ADMIN, PASSWORD = "bench-admin@jovapos.test", "kata-sandi-bench-panjang"
NOT_PAGES = {"/console/events"}  # the live stream: no page (others are skipped by type)
# A photo's worth of bytes for the sampled requests' ID proofs (never decoded here).
PROOF = b"\xff\xd8\xff\xe0" + bytes(200_000)
SELF_LINKS = 6  # links a page offers to itself (tabs, sorting) measured at most


class Timer:
    """ASGI middleware: the server time of each HTTP request, arrival to the
    last byte of the answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = self.last_cpu = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, cpu = time.perf_counter(), time.process_time()

        async def timed(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - started
                self.last_cpu = time.process_time() - cpu

        await self.app(scope, receive, timed)


def console_pages(core: Core, desk: Desk) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, path) of every console GET page filled from the desk, and notes
    on routes that could not be filled."""
    samples = {"reference": desk.references, "chat": desk.chats}
    pages, notes = [], []
    for route in console_routes(core):
        is_get = isinstance(route, Route) and "GET" in (route.methods or ())
        if not is_get or route.path in NOT_PAGES:
            continue
        names = re.findall(r"\{(\w+)(?::\w+)?\}", route.path)
        unknown = [n for n in names if n not in samples]
        if unknown:
            notes.append(f"{route.path}: no sample for {', '.join(unknown)}")
            continue
        if not names:
            pages.append((route.path, route.path))
            continue
        (name,) = names  # one parameter per console route so far
        pattern = r"\{" + name + r"(?::\w+)?\}"
        for label, value in samples[name].items():
            pages.append(
                (re.sub(pattern, f"<{label}>", route.path), re.sub(pattern, value, route.path))
            )
    email, reference = desk.searches
    pages += [
        ("/console?q= (an email)", f"/console?q={email}"),
        ("/console?q= (part of a reference)", f"/console?q={reference}"),
        ("/console?status=all", "/console?status=all"),
    ]
    return pages, notes


def self_links(path: str, html: str) -> list[tuple[str, str]]:
    """Links of the page at ``path`` to itself with another query (tabs,
    sorting, paging): a few of them, and the last page when it pages."""
    found = []
    for href in re.findall(r'href="([^"]+)"', html):
        href = href.replace("&amp;", "&")
        parts = urlsplit(href)
        if parts.path == path and parts.query and "lang=" not in parts.query:
            found.append(href)
    found = list(dict.fromkeys(found))
    numbered = [(int(m.group(1)), h) for h in found if (m := re.search(r"page=(\d+)", h))]
    chosen = [(f"{path} ({urlsplit(h).query})", h) for h in found if "page=" not in h]
    chosen = chosen[:SELF_LINKS]
    if numbered:
        last = max(numbered)[1]
        chosen.append((f"{path} (last page: {urlsplit(last).query})", last))
    return chosen


async def measure(
    http: httpx.AsyncClient, timer: Timer, path: str, samples: int, seconds: float
) -> tuple[list[float], list[float]]:
    """The server times (and CPU times) of up to ``samples`` requests, at
    least 5, in about ``seconds``."""
    times: list[float] = []
    cpu: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < samples and (len(times) < 5 or time.perf_counter() < deadline):
        answer = await http.get(path)
        answer.raise_for_status()
        times.append(timer.last * 1000)
        cpu.append(timer.last_cpu * 1000)
    return times, cpu


def row(name: str, measured: tuple[list[float], list[float]]) -> str:
    """A line of the table. The CPU time (of the whole process while the
    request ran, so the database thread's too) moves less than the clock on a
    busy machine."""
    times, cpu = measured
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median, cpu_median = statistics.median(ordered), statistics.median(cpu)
    return (
        f"{name[:58]:<58} {len(times):>4} {median:>8.1f} {p95:>8.1f} {ordered[-1]:>8.1f} "
        f"{cpu_median:>8.1f}"
    )


async def profile(path: str, call: Callable[[], Awaitable[Any]], db: Any) -> None:
    """Where ``path``'s time goes: a Python profile of 5 renders, then the SQL
    they ran, each statement with its count and the time spent waiting for
    it (SQLite runs in aiosqlite's thread, which a profiler of this thread
    does not see)."""
    sql: dict[str, list[float]] = {}
    current = ["?"]
    original = type(db)._execute

    async def timed(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], str):  # execute(sql, ...): fetches follow it
            current[0] = re.sub(r"\s+", " ", args[0])
            sql.setdefault(current[0], []).append(0.0)
        started = time.perf_counter()
        try:
            return await original(self, fn, *args, **kwargs)
        finally:
            if current[0] in sql:
                sql[current[0]][-1] += time.perf_counter() - started

    type(db)._execute = timed
    try:
        try:
            from pyinstrument import Profiler
        except ImportError:
            import cProfile
            import pstats

            python = cProfile.Profile()
            python.enable()
            await _renders(call)
            python.disable()
            pstats.Stats(python).sort_stats("cumulative").print_stats(30)
        else:
            profiler = Profiler(async_mode="disabled")
            profiler.start()
            await _renders(call)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False))
    finally:
        type(db)._execute = original
    print(f"SQL of {path} (5 renders): count, total ms, statement")
    for statement, times in sorted(sql.items(), key=lambda item: -sum(item[1])):
        print(f"  {len(times):>6} {sum(times) * 1000:>9.1f}  {statement[:160]}")


async def _renders(call: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(5):
        await call()


async def run(args: argparse.Namespace) -> None:
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-console-"))
    settings = load_settings(
        environ={}, data_dir=str(folder / "data"), public_url="http://127.0.0.1"
    )
    started = time.perf_counter()
    store = SQLiteStore(settings.database_path)
    await store.open()  # the schema, by the migrations
    await store.close()
    desk = seed(settings.database_path, args.requests, args.chats, random.Random(args.seed))
    print(
        f"seeded {args.requests} requests and {args.chats} chats in "
        f"{time.perf_counter() - started:.1f} s ({folder})",
        file=sys.stderr,
    )
    core = Core(settings)
    timer = Timer(create_app(core))
    config = uvicorn.Config(
        timer, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False
    )
    server = Server(config, core)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        await add_staff(core.services, ADMIN, "admin", PASSWORD)
        for token in desk.proofs:  # the sampled requests' ID proofs, on disk as uploaded
            core.services.blobs.put(token, PROOF)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            form = await http.get("/console/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            data = {"csrf": token, "email": ADMIN, "password": PASSWORD}
            assert (await http.post("/console/login", data=data)).status_code == 303
            pages, notes = console_pages(core, desk)
            lines, measured = [], set()
            header = f"{'page':<58} {'n':>4} {'median':>8} {'p95':>8} {'max':>8} {'cpu':>8}"
            lines.append(row("/healthz (bare endpoint)", await _floor(http, timer, args)))
            queue = [*pages]
            while queue:
                name, path = queue.pop(0)
                if path in measured:
                    continue
                measured.add(path)
                async with http.stream("GET", path) as first:  # a file or a stream: headers only
                    kind = first.headers.get("content-type", "")
                    if first.status_code != 200 or not kind.startswith("text/html"):
                        notes.append(f"{name}: skipped ({first.status_code} {kind.split(';')[0]})")
                        continue
                    page = (await first.aread()).decode()
                if "?" not in path:
                    queue[0:0] = self_links(path, page)
                times = await measure(http, timer, path, args.samples, args.seconds)
                lines.append(row(name, times))
                print(lines[-1], file=sys.stderr)
            print(
                f"\nserver time in ms ({args.requests} requests, {args.chats} chats; "
                "cpu: median CPU time of the process per request)"
            )
            print(header)
            print("\n".join(lines))
            for note in notes:
                print(f"note: {note}")
            if args.profile:
                await profile(args.profile, lambda: http.get(args.profile), core.services.store.db)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


async def _floor(
    http: httpx.AsyncClient, timer: Timer, args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    await http.get("/healthz")
    return await measure(http, timer, "/healthz", args.samples, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=1_000)
    parser.add_argument("--samples", type=int, default=40, help="requests per page at most")
    parser.add_argument("--seconds", type=float, default=1.5, help="time per page at most")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", help="seed into this folder (kept) instead of a temporary one")
    parser.add_argument("--profile", metavar="PATH", help="profile this page after the table")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

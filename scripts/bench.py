"""How many WhatsApp messages a second ``privacybot serve`` answers, beside
a bare endpoint on the same server stack, in one run of about a minute.

    .venv/bin/python scripts/bench.py [--duration 10] [--customers 200]
        [--rate 300] [--history 100000] [--profile bench-profile.svg]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres [--instances 2]]

Starts two servers as subprocesses, each pinned to the first CPU core: the
bare endpoint (``bench_bare.py``: Twilio's signature checked, one fixed TwiML
answer) and the real ``privacybot serve`` (the installed console script, a
fresh database in a temporary folder, Twilio WhatsApp configured, Twilio's
REST API pointed at a local listener that counts who calls it: nobody
should, answers go inline in TwiML). This process is the load generator,
pinned to the second core. For each server, in turn:

- closed loop: every customer (a distinct ``whatsapp:+6285...``) sends
  "halo", "1" (deletion), "batal", over and over, each message as soon as the
  last answer came: messages a second at saturation after a warm-up;
- open loop: messages at a fixed offered rate (``--rate``), latency from
  each message's due time (queueing counts): median, 95th, 99th percentile.

Every answer must be 200 with TwiML; anything else is counted and reported
(and the exit status is 1). Also: resident memory of each server idle after
start and after the load, start-up time (process start to ``/healthz``
answering), and how busy each core was, so one can tell the server's core was
the limit and not the load generator's. ``--history N`` seeds N earlier
requests with their conversations and messages (``bench_seed.py``) before the
server starts. ``--postgres URL`` runs privacybot on a new database of that
PostgreSQL server (dropped afterwards), ``--instances N`` as N servers on it,
all on the first core, the load spread over them connection by connection;
PostgreSQL's own processes are not pinned and take what they need of both
cores. ``--profile PATH`` records privacybot under load with py-spy
(``pip install py-spy``). A measurement, not a test: nothing fails on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_load import (  # noqa: E402
    Tally,
    Target,
    closed_loop,
    customers,
    dialogue,
    is_twiml,
    open_loop,
)

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_URL = "https://bench.example"
WHATSAPP_NUMBER = "whatsapp:+14155238886"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """One server under test and what was measured of it."""

    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    startup: float = 0.0
    rss_idle: float = 0.0
    rss_loaded: float = 0.0
    saturated: Tally = field(default_factory=Tally)
    throughput: float = 0.0
    fixed: Tally = field(default_factory=Tally)
    busy: dict[str, float] = field(default_factory=dict)
    spread: list[int] = field(default_factory=list)  # more instances sharing the load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies of each core, every process on it counted."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(v) for v in values[:8]]
            idle = numbers[3] + numbers[4]
            times[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    return times


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def stack() -> str:
    """What uvicorn's ``auto`` picks in this environment (both servers run in
    it). ``privacybot serve`` runs uvicorn inside its own ``asyncio.run``, so
    its event loop is asyncio's whatever is installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    missing = [m for m in ("uvloop", "httptools") if not importlib.util.find_spec(m)]
    note = f" ({' and '.join(missing)} not installed)" if missing else ""
    return f"uvicorn auto: {loop} event loop (privacybot: asyncio's), {http} HTTP parser{note}"


def server_env(api_port: int) -> dict[str, str]:
    """The environment of both servers: none of the caller's bot settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PRIVACYBOT_", "TWILIO_", "TELEGRAM_", "SMTP_"))
    }
    env.update(
        TWILIO_ACCOUNT_SID="AC" + "b" * 32,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_WHATSAPP_NUMBER=WHATSAPP_NUMBER,
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{api_port}",
        PRIVACYBOT_PUBLIC_URL=PUBLIC_URL,
    )
    return env


async def start(server: Server, env: dict[str, str], folder: Path, core: int | None) -> None:
    """Start the server pinned to ``core``; its start-up time is process start
    to ``/healthz`` answering 200."""

    def pin() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})

    server.log = folder / f"{server.name}.log"
    with server.log.open("wb") as log:
        began = time.perf_counter()
        server.process = subprocess.Popen(
            server.command, env=env, cwd=folder, stdout=log, stderr=log, preexec_fn=pin
        )
    while time.perf_counter() - began < 60:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited at start:\n{server.log.read_text()[-2000:]}")
        if await healthy(server.port):
            server.startup = time.perf_counter() - began
            return
        await asyncio.sleep(0.01)
    raise SystemExit(f"{server.name} did not answer /healthz in 60 s")


async def healthy(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        return answer.startswith(b"HTTP/1.1 200")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


def stop(server: Server) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def measure(
    server: Server, args: argparse.Namespace, cores: tuple[int, int] | None, first: int
) -> None:
    """The dialogue once, the closed loop (with the cores' load while it
    counts), then the open loop at the fixed rate."""
    assert server.process is not None
    target = Target(
        "127.0.0.1", server.port, PUBLIC_URL, AUTH_TOKEN, WHATSAPP_NUMBER, tuple(server.spread)
    )
    checked = await dialogue(target, customers(target, 1, first)[0])
    if not all(status == 200 and is_twiml(body) for status, body in checked):
        raise SystemExit(f"{server.name}: the dialogue was not answered with TwiML: {checked!r}")
    pid = server.process.pid

    async def watch() -> None:
        await asyncio.sleep(args.warmup)
        before = (process_cpu(pid), time.process_time(), core_times(), time.perf_counter())
        await asyncio.sleep(args.duration)
        after = (process_cpu(pid), time.process_time(), core_times(), time.perf_counter())
        wall = after[3] - before[3]
        server.busy["server"] = (after[0] - before[0]) / wall
        server.busy["load"] = (after[1] - before[1]) / wall
        if cores is not None:
            for role, core in zip(("server core", "load core"), cores, strict=True):
                busy = after[2][core][0] - before[2][core][0]
                total = after[2][core][1] - before[2][core][1]
                server.busy[role] = busy / total if total else 0.0

    people = customers(target, args.customers, first + 1)
    server.saturated, _ = await asyncio.gather(
        closed_loop(target, people, args.warmup, args.duration), watch()
    )
    server.throughput = server.saturated.ok / args.duration
    server.fixed = await open_loop(target, people, args.rate, args.duration)
    server.rss_loaded = rss_mb(pid)


async def seed_history(data_dir: Path, requests: int) -> str:
    """``requests`` earlier requests with their conversations, transcripts and
    events, straight into a fresh database (migrated by the store first)."""
    from bench_seed import seed

    from bot.settings import load_settings
    from bot.store.sqlite.connection import SQLiteStore

    settings = load_settings(environ={}, data_dir=str(data_dir))
    store = SQLiteStore(settings.database_path)
    await store.open()
    await store.close()
    began = time.perf_counter()
    seed(settings.database_path, requests, max(1, requests // 10), random.Random(13))
    import sqlite3

    with sqlite3.connect(settings.database_path) as db:
        counts = {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("requests", "conversations", "inbound_messages", "outbound_messages")
        }
    took = time.perf_counter() - began
    return ", ".join(f"{n:,} {t.replace('_', ' ')}" for t, n in counts.items()) + (
        f" (seeded in {took:.0f} s)"
    )


def postgres_database(server_url: str) -> tuple[str, str]:
    """A new database on the PostgreSQL server ``server_url``: (name, URL)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"bench_{os.urandom(6).hex()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def drop_postgres_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def profiler(path: str, pid: int, core: int | None) -> subprocess.Popen[bytes] | None:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        print(
            "--profile: py-spy is not installed; `.venv/bin/pip install py-spy` and run again",
            file=sys.stderr,
        )
        return None
    kind = {".json": "speedscope", ".txt": "raw"}.get(Path(path).suffix, "flamegraph")
    return subprocess.Popen(
        [found, "record", "--pid", str(pid), "--output", path, "--format", kind,
         "--rate", "250", "--nonblocking"],
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if core is not None else None,
    )  # fmt: skip


async def count_calls(calls: list[int]) -> asyncio.Server:
    """A listener standing in for Twilio's REST API: counts connections, answers none."""

    def arrived(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls.append(1)
        writer.close()

    return await asyncio.start_server(arrived, "127.0.0.1", 0)


async def run(args: argparse.Namespace) -> int:
    available = sorted(os.sched_getaffinity(0))
    cores = (available[0], available[1]) if len(available) >= 2 else None
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    calls: list[int] = []
    api = await count_calls(calls)
    env = server_env(api.sockets[0].getsockname()[1])
    history = ""
    if args.history:
        history = await seed_history(folder / "data", args.history)
    privacybot = shutil.which("privacybot", path=str(Path(sys.executable).parent))
    if privacybot is None:
        raise SystemExit("privacybot is not installed in this environment (pip install -e .)")
    database = None
    if args.postgres:
        if args.history:
            raise SystemExit("--history seeds SQLite only; leave it out with --postgres")
        database = postgres_database(args.postgres)
        env["PRIVACYBOT_DATABASE_URL"] = database[1]
    bare_port = free_port()
    bare = Server("bare", [sys.executable, str(HERE / "bench_bare.py"), "--port", str(bare_port)],
                  bare_port)  # fmt: skip
    name = "privacybot" + (
        f" (PostgreSQL, {args.instances} instance{'s' if args.instances > 1 else ''})"
        if database
        else ""
    )
    instances = []
    for _ in range(args.instances):
        port = free_port()
        command = [privacybot, "--data-dir", str(folder / "data"), "serve", "--port", str(port)]
        instances.append(Server(name, command, port))
    bot = instances[0]
    bot.spread = [other.port for other in instances[1:]]
    servers = (bare, bot)
    spy = None
    try:
        for server in (bare, *instances):
            await start(server, env, folder, cores[0] if cores else None)
        await asyncio.sleep(1)  # settled
        for server in servers:
            assert server.process is not None
            server.rss_idle = rss_mb(server.process.pid)
        if cores is not None:
            os.sched_setaffinity(0, {cores[1]})
        await measure(bare, args, cores, 0)
        if args.profile:
            assert bot.process is not None
            spy = profiler(args.profile, bot.process.pid, cores[1] if cores else None)
        await measure(bot, args, cores, 100_000)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        for server in (bare, *instances):
            stop(server)
        api.close()
        if database is not None:
            drop_postgres_database(args.postgres, database[0])
    report(args, servers, cores, history, len(calls), spy is not None)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"kept: {folder}")
    return 1 if any(s.saturated.errors or s.fixed.errors for s in servers) else 0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(
    args: argparse.Namespace,
    servers: tuple[Server, Server],
    cores: tuple[int, int] | None,
    history: str,
    api_calls: int,
    profiled: bool,
) -> None:
    bare = servers[0]
    pinning = (
        f"servers on core {cores[0]}, load generator on core {cores[1]}"
        if cores
        else "not pinned (fewer than 2 cores)"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; CPU: {cpu_model()}, "
          f"{os.cpu_count()} cores; {pinning}")  # fmt: skip
    print(f"python {platform.python_version()}; {stack()}")
    print(
        f"{args.customers} WhatsApp customers, dialogue halo/1/batal; closed loop "
        f"{args.warmup:g} s warm-up + {args.duration:g} s; open loop {args.rate:g} msg/s "
        f"for {args.duration:g} s; history: {history or 'none (fresh database)'}"
    )
    print()
    print(
        f"| server | msg/s at saturation | of bare | p50 / p95 / p99 ms at {args.rate:g} msg/s "
        "| answered/s | errors | RSS idle / loaded MB | start-up s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for server in servers:
        lat = [v * 1000 for v in server.fixed.latencies]
        share = 100 * server.throughput / bare.throughput if bare.throughput else 0.0
        errors = sum(server.saturated.errors.values()) + sum(server.fixed.errors.values())
        print(
            f"| {server.name} | {server.throughput:,.0f} | {share:.0f} % | "
            f"{percentile(lat, 0.5):.1f} / {percentile(lat, 0.95):.1f} / "
            f"{percentile(lat, 0.99):.1f} | {server.fixed.ok / args.duration:,.0f} | {errors} | "
            f"{server.rss_idle:.0f} / {server.rss_loaded:.0f} | {server.startup:.2f} |"
        )
    print()
    for server in servers:
        busy = server.busy
        seconds = [server.saturated.per_second[n] for n in range(int(args.duration))]
        line = (
            f"{server.name} at saturation: {min(seconds, default=0):,}–{max(seconds, default=0):,}"
            f" msg/s second by second; server process {busy.get('server', 0):.0%} of a core, "
            f"load generator {busy.get('load', 0):.0%}"
        )
        if "server core" in busy:
            line += (
                f"; core {cores[0] if cores else '?'} {busy['server core']:.0%} busy, "
                f"core {cores[1] if cores else '?'} {busy['load core']:.0%} (all processes)"
            )
        limit = (
            "the server's core is the limit"
            if busy.get("server", 0) >= 0.85 and busy.get("load", 0) < 0.85
            else "WARNING: the server's core was not saturated (load generator, or other "
            "processes on the machine?)"
        )
        print(f"{line}: {limit}")
        late = [v * 1000 for v in server.fixed.late]
        print(
            f"{server.name} at {args.rate:g} msg/s: sends went out "
            f"{percentile(late, 0.5):.1f} / {percentile(late, 0.99):.1f} ms (p50 / p99) after "
            "their due time when the customer was free (the load generator's own delay)"
        )
        for tally in (server.saturated, server.fixed):
            if tally.errors:
                print(f"{server.name} errors: {dict(tally.errors)}; first: {tally.first_error}")
    print(f"calls to the Twilio REST API: {api_calls}")
    if profiled:
        print(f"profile of privacybot under load: {args.profile}")
    elif not args.profile:
        print("profile: --profile bench-profile.svg (py-spy; `.venv/bin/pip install py-spy`)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds before counting")
    parser.add_argument("--customers", type=int, default=200, help="WhatsApp customers at once")
    parser.add_argument("--rate", type=float, default=300, help="open loop: messages a second")
    parser.add_argument("--history", type=int, default=0, help="earlier requests to seed")
    parser.add_argument("--profile", metavar="PATH", help="py-spy profile (.svg, .json, .txt)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="privacybot on PostgreSQL: a server's URL (a database is made and dropped there)",
    )
    parser.add_argument(
        "--instances", type=int, default=1, help="privacybot servers sharing the load (PostgreSQL)"
    )
    args: Any = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()

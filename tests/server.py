"""Run the real web app under a real uvicorn server inside the test's event
loop, so tests talk to it over HTTP with real clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from bot.core import Core
from bot.delivery.channels import ChannelAdapter
from bot.infra.clock import Clock, utc_now
from bot.settings import Settings
from bot.web.app import Server, create_app

PUBLIC_URL = "https://bot.jovapos.test"


@dataclass
class RunningServer:
    core: Core
    url: str  # where the test reaches it: http://127.0.0.1:PORT

    def public(self, path: str) -> str:
        """The URL the provider believes it calls (what webhooks are signed for)."""
        return self.core.settings.public_url.rstrip("/") + path


@asynccontextmanager
async def running_server(
    settings: Settings,
    adapters: Callable[[Core], list[ChannelAdapter]] = lambda core: [],
    clock: Clock = utc_now,
    sock: socket.socket | None = None,
) -> AsyncIterator[RunningServer]:
    """``sock``: an already bound listening socket, for tests that must know the port
    before the settings are built; by default uvicorn binds a free port itself."""
    core = Core(settings)
    core.channels.adapters.extend(adapters(core))
    config = uvicorn.Config(
        create_app(core, clock=clock),
        host="127.0.0.1",
        port=sock.getsockname()[1] if sock else 0,
        lifespan="on",
        log_config=None,
        access_log=False,
    )
    server = Server(config, core)
    task = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            if task.done():
                task.result()  # raises the startup error
            raise RuntimeError("server did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(core=core, url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)

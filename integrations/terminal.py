"""The terminal channel: a customer conversation on stdin/stdout.

Each line is one message. ``/attach PATH`` sends a file (the way a phone
would send a photo). On a TTY it is interactive with a prompt; otherwise it
reads lines until end of input, so whole conversations can be scripted.
"""

from __future__ import annotations

import asyncio
import shlex
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.conversation.engine import Engine
from bot.domain.models import Channel, InboundFile, InboundMessage, OutboundMessage
from bot.infra.mail import Mail

ATTACH = "/attach"
QUIT = ("/quit", "/exit", "/keluar")


class TerminalChannel:
    channel = Channel.TERMINAL

    def __init__(
        self,
        engine: Engine,
        user: str,
        stdin: TextIO,
        stdout: TextIO,
        interactive: bool,
        language: str,
        before_prompt: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.user = user
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = interactive
        self.language = language
        # Shows what waits for the customer (notifications, staff replies):
        # the terminal has no push, so it looks each time it is about to read.
        self.before_prompt = before_prompt

    def _texts(self, key: str, **params: object) -> str:
        return self.engine.services.catalogue.text(self.language, key).format(**params)

    async def run(self) -> None:
        if self.interactive:
            self._write(self._texts("terminal.banner", user=self.user))
        while True:
            if self.before_prompt is not None:
                await self.before_prompt()
            line = await asyncio.to_thread(self._read)
            if line is None:
                return
            if line.strip().lower() in QUIT:
                return
            message = self._message(line)
            if message is None:
                continue
            for reply in await self.engine.handle(message):
                self.language = reply.language  # the prompt follows the conversation
                self._show(reply)
            # A code mail goes out after the reply; here it shows (as development
            # mail, without SMTP) before the next prompt.
            await self.engine.flush_mail()

    def _read(self) -> str | None:
        if self.interactive:
            try:
                return input(self._texts("terminal.prompt"))
            except EOFError:
                return None
        line = self.stdin.readline()
        return None if line == "" else line.rstrip("\n")

    def _message(self, line: str) -> InboundMessage | None:
        files: tuple[InboundFile, ...] = ()
        text = line
        if line.strip().startswith(ATTACH):
            argument = line.strip()[len(ATTACH) :].strip()
            try:
                parts = shlex.split(argument)
            except ValueError:
                parts = [argument]
            path = " ".join(parts)
            if not path:
                self._write(self._texts("terminal.attach_usage"))
                return None
            file = self._load(Path(path).expanduser())
            if file is None:
                return None
            files, text = (file,), ""
        return InboundMessage(
            channel=self.channel,
            address=self.user,
            message_id=f"terminal-{uuid.uuid4().hex}",
            text=text,
            files=files,
        )

    def _load(self, path: Path) -> InboundFile | None:
        """Read at most one byte past the limit: enough to know it is too big."""
        limit = self.engine.services.settings.max_attachment_bytes
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise IsADirectoryError(path)
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            self._write(self._texts("terminal.file_not_found", path=path))
            return None
        except OSError:
            self._write(self._texts("terminal.file_unreadable", path=path))
            return None
        return InboundFile(data=data, size=max(size, len(data)), filename=path.name)

    def show_text(self, text: str) -> None:
        self._write(text)

    def show_dev_mail(self, mail: Mail) -> None:
        self._write(self._texts("terminal.dev_mail", to=mail.to, text=mail.text))

    def _show(self, reply: OutboundMessage) -> None:
        self._write(reply.text)

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n\n")
        self.stdout.flush()

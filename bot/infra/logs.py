"""How the processes log: one format, masked personal data, quiet libraries.

Libraries that log request contents at DEBUG or INFO are held at WARNING
whatever the level: aiosqlite logs SQL parameters (names, emails), httpx and
python-telegram-bot log URLs that carry the bot token, twilio logs message
bodies, Pillow logs an ID photo's EXIF tags (camera, owner, time) before they
are stripped. The masking filter is the second line of defence behind that.
"""

from __future__ import annotations

import logging
from typing import TextIO

from bot.infra.logmask import install

CHATTY_LIBRARIES = (
    "aiosqlite",
    "httpx",
    "httpcore",
    "telegram",
    "twilio",
    "transitions",
    "multipart",
    "hpack",
    "aiosmtplib",
    "PIL",
)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: int | str, stream: TextIO) -> logging.Handler:
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    install(handler)
    return handler

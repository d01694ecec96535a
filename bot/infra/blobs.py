"""Where ID-proof files live, behind one small interface (an object store
could replace the folder without touching callers).

Files get opaque random names, so nothing about the customer or the file type
shows in a path, and are sealed with AES-256-GCM before they reach the disk:
the plaintext only ever exists in memory. The token is the associated data,
so a sealed file moved under another name does not open.
"""

from __future__ import annotations

import abc
import os
import secrets
import tempfile
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.store.base import StoreError


class BlobStore(abc.ABC):
    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(16)

    @abc.abstractmethod
    def open(self) -> None:
        """Check the storage is usable, so a misconfiguration fails at start."""

    @abc.abstractmethod
    def put(self, token: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def get(self, token: str) -> bytes: ...

    @abc.abstractmethod
    def delete(self, token: str) -> None:
        """Remove the file; a missing file is not an error."""

    @abc.abstractmethod
    def exists(self, token: str) -> bool: ...

    @abc.abstractmethod
    def stored(self, older_than: float) -> list[str]:
        """Tokens of files last written more than ``older_than`` seconds ago."""


class BlobUnreadable(Exception):
    """A stored file failed authentication: damaged, swapped, or another key."""


MAGIC = b"PBG1"  # privacybot, AES-GCM, format 1
NONCE_BYTES = 12


class FileBlobStore(BlobStore):
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self._cipher = AESGCM(key)

    def open(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tempfile.TemporaryFile(dir=self.root):
                pass  # proves the folder is writable; unique per process
        except OSError as exc:
            raise StoreError(
                f"file storage {self.root} is not a writable folder ({exc.strerror})"
            ) from exc

    def _path(self, token: str) -> Path:
        if len(token) != 32 or any(c not in "0123456789abcdef" for c in token):
            raise ValueError("malformed blob token")
        return self.root / token[:2] / token

    def put(self, token: str, data: bytes) -> None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = MAGIC + nonce + self._cipher.encrypt(nonce, data, token.encode())
        path = self._path(token)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, token: str) -> bytes:
        sealed = self._path(token).read_bytes()
        if not sealed.startswith(MAGIC):
            raise BlobUnreadable("not a sealed file")
        nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._cipher.decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], token.encode())
        except InvalidTag:
            raise BlobUnreadable("authentication failed") from None

    def delete(self, token: str) -> None:
        self._path(token).unlink(missing_ok=True)

    def exists(self, token: str) -> bool:
        return self._path(token).exists()

    def stored(self, older_than: float) -> list[str]:
        cutoff = time.time() - older_than
        found = []
        for path in self.root.glob("??/*"):
            try:  # removed meanwhile by another process's forgetting or purge: fine
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if len(path.name) == 32 and old:
                found.append(path.name)
        return found

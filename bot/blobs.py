"""Where ID-proof files live: behind one small interface so encryption at rest
(or an object store) can replace the plain folder without touching callers.

Files get opaque random names; nothing about the customer or the file type
shows in the path.
"""

from __future__ import annotations

import abc
import os
import secrets
import tempfile
from pathlib import Path

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


class FileBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root

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
        path = self._path(token)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, token: str) -> bytes:
        return self._path(token).read_bytes()

    def delete(self, token: str) -> None:
        self._path(token).unlink(missing_ok=True)

    def exists(self, token: str) -> bool:
        return self._path(token).exists()

"""Keys for what the bot must keep secret: ID-proof files and one-time codes.

One master key (``PRIVACYBOT_SECRET_KEY``, 32 bytes in base64) is never used
directly: HKDF derives a separate key per purpose, so a leak of one use does
not help with another. Without the setting, a key is generated once into the
data folder (mode 0600); that suits one machine, not production.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.settings import SettingsError

log = logging.getLogger(__name__)

KEY_BYTES = 32
SEALED_TEXT = "sealed:v1:"
KEY_FILE = "secret.key"


class SecretKeyError(SettingsError):
    """The configured key is unusable."""


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError("PRIVACYBOT_SECRET_KEY: not valid base64") from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(
            f"PRIVACYBOT_SECRET_KEY: must decode to {KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def load_master_key(configured: str, data_dir: Path) -> bytes:
    """The configured key, else the one in the data folder, created on first use.

    The new key is written to a private temporary file and then hard-linked
    into place, which fails if another process got there first: processes
    starting together agree on one complete key, never read a half-written one.
    """
    if configured:
        return parse_key(configured)
    path = data_dir / KEY_FILE
    if path.is_file():
        return parse_key(path.read_text())
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".key-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        finally:
            os.unlink(temporary)
    except FileExistsError:
        if not path.is_file():
            raise SecretKeyError(f"data folder {data_dir} is not a usable folder") from None
        return parse_key(path.read_text())  # another process made it first
    except OSError as exc:
        raise SecretKeyError(f"data folder {data_dir} is not usable ({exc.strerror})") from None
    log.warning(
        "generated a new secret key in %s; production must set PRIVACYBOT_SECRET_KEY "
        "(and keep it: without it stored ID proofs cannot be read)",
        path,
    )
    return parse_key(path.read_text())


class Keyring:
    def __init__(self, master: bytes) -> None:
        self._master = master
        self.file_key = self._derive(b"privacybot/id-proof-files/v1")
        self._code_key = self._derive(b"privacybot/one-time-codes/v1")
        self._text_key = self._derive(b"privacybot/sealed-text/v1")

    def _derive(self, purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(
            self._master
        )

    def seal_text(self, text: str) -> str:
        """A short secret (e.g. a download link waiting in the outbox) encrypted
        for the database: AES-256-GCM, so a copy of the database alone does
        not give it away."""
        nonce = os.urandom(12)
        sealed = AESGCM(self._text_key).encrypt(nonce, text.encode(), SEALED_TEXT.encode())
        return SEALED_TEXT + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open_text(self, value: str) -> str:
        """``value`` decrypted if ``seal_text`` made it, else as it is."""
        if not value.startswith(SEALED_TEXT):
            return value
        raw = base64.urlsafe_b64decode(value.removeprefix(SEALED_TEXT))
        return AESGCM(self._text_key).decrypt(raw[:12], raw[12:], SEALED_TEXT.encode()).decode()

    def code_digest(self, code: str, context: str) -> str:
        """A keyed hash of a one-time code, bound to what it is for."""
        message = f"{context}\x00{code}".encode()
        return hmac.new(self._code_key, message, hashlib.sha256).hexdigest()

    def identity_digest(self, value: str) -> str:
        """A keyed hash that proves a record concerned this person (whoever holds
        the key can check a given email) without keeping the email itself."""
        return self.code_digest(value.casefold(), "identity")

    def code_matches(self, code: str, context: str, digest: str) -> bool:
        return hmac.compare_digest(self.code_digest(code, context), digest)


def hash_token(token: str) -> str:
    """Upload links are stored hashed: a copy of the database opens no upload."""
    return hashlib.sha256(token.encode()).hexdigest()

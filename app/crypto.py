"""Secrets at rest: SMTP passwords and webhook signing secrets are stored encrypted.

``encrypt`` turns text into ``enc1:<Fernet token>`` (AES-128-CBC with HMAC-SHA256, a random IV,
so the same secret encrypts differently each time); ``decrypt`` turns it back. A value without
the ``enc1:`` prefix is a legacy plaintext value, written before encryption existed: ``decrypt``
returns it unchanged, and the value is stored encrypted when it next changes (migration 0012
encrypts every existing value at once). ``EncryptedText`` does
both on a column, so models and services read and write plaintext and only the database holds
ciphertext; any text column can use it (the column becomes TEXT: ciphertext is about 1.4 times
the plaintext plus 80 characters).

The key is derived (HKDF-SHA256, info ``postroom secrets at rest v1``) from the setting
``ENCRYPTION_KEY``, which defaults to ``SECRET_KEY``. Rotating: set ``ENCRYPTION_KEY`` to the
new key and put the old one in ``ENCRYPTION_OLD_KEYS`` (comma-separated): values are written
under the new key, and read under whichever key wrote them. Changing ``SECRET_KEY`` while
``ENCRYPTION_KEY`` is unset changes the encryption key too, so the old ``SECRET_KEY`` must then go
in ``ENCRYPTION_OLD_KEYS``. A value no configured key opens raises ``UndecryptableSecret``, whose
message says which settings to check; it never holds the value.

The keys come from the running app's config, or, outside an app context, from
``app.config.load_settings`` (the environment), exactly as the app would read them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from functools import lru_cache

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1:"
INFO = b"postroom secrets at rest v1"


class UndecryptableSecret(ValueError):
    """A stored secret that none of the configured keys decrypts."""


def keys(config: Mapping | None = None) -> tuple[str, ...]:
    """The configured keys, the one that encrypts first; from ``config`` or the app's settings."""
    if config is None:
        config = _settings()
    current = config.get("ENCRYPTION_KEY") or config.get("SECRET_KEY")
    if isinstance(current, bytes):
        current = current.decode()
    if not current:
        raise RuntimeError("no encryption key: set ENCRYPTION_KEY (or SECRET_KEY)")
    old = config.get("ENCRYPTION_OLD_KEYS") or ""
    if isinstance(old, str):
        old = old.split(",")
    return (current, *(key.strip() for key in old if key.strip() and key.strip() != current))


def _settings() -> Mapping:
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config
    from app.config import load_settings

    return load_settings()


@lru_cache(maxsize=8)
def _fernet(key_list: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_derive(key)) for key in key_list])


def _derive(key: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(key.encode())
    return base64.urlsafe_b64encode(derived)


def is_encrypted(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(text: str, key_list: Sequence[str] | None = None) -> str:
    """``text`` encrypted under the current key, as ``enc1:<token>``."""
    if not isinstance(text, str):
        raise TypeError(f"only text is encrypted, got {type(text).__name__}")
    token = _fernet(tuple(key_list or keys())).encrypt(text.encode())
    return PREFIX + token.decode("ascii")


def decrypt(value: str, key_list: Sequence[str] | None = None) -> str:
    """The plaintext of ``value``; a legacy value (no ``enc1:`` prefix) comes back unchanged.

    Raises UndecryptableSecret when no configured key decrypts it.
    """
    if not is_encrypted(value):
        return value
    try:
        return _fernet(tuple(key_list or keys())).decrypt(value[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise UndecryptableSecret(
            "a stored secret cannot be decrypted with ENCRYPTION_KEY (default: SECRET_KEY) or any key in "
            "ENCRYPTION_OLD_KEYS: if a key was changed, put the previous one in ENCRYPTION_OLD_KEYS"
        ) from None


def reencrypt(connection: sa.Connection, metadata: sa.MetaData) -> int:
    """Rewrite every ``EncryptedText`` value of ``metadata``'s tables under the current key.

    For after a rotation (then the old key can leave ``ENCRYPTION_OLD_KEYS``) and for legacy
    plaintext values; a value the current key already opens is left alone. Returns how many
    values were rewritten. The caller commits.
    """
    key_list = keys()
    current = _fernet(key_list[:1])
    rewritten = 0
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        for column in (c for c in table.columns if isinstance(c.type, EncryptedText)):
            # The stored text itself, not through the type: sa.table() columns have no decorator.
            stored = sa.table(table.name, *(sa.column(k.name) for k in key), sa.column(column.name, sa.Text))
            value_of = stored.c[column.name]
            for row in connection.execute(sa.select(*stored.c).where(value_of.is_not(None))).all():
                value = row[-1]
                if is_encrypted(value) and _opens(current, value):
                    continue
                where = [stored.c[k.name] == row[i] for i, k in enumerate(key)]
                connection.execute(sa.update(stored).where(*where).values({column.name: encrypt(decrypt(value))}))
                rewritten += 1
    return rewritten


def _opens(fernet: MultiFernet, value: str) -> bool:
    try:
        fernet.decrypt(value[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


class EncryptedText(TypeDecorator):
    """A text column stored encrypted: plaintext in Python, ``enc1:...`` in the database.

    Every write encrypts with a fresh IV, so the column cannot be compared in a query (``==``
    matches nothing): look rows up by another column.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)

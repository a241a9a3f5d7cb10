"""Secrets encrypted at rest: Trunk.password and Campaign.webhook_secret.

Stored as "fernet:<token>" (Fernet: AES-128-CBC + HMAC-SHA256). Keys come from FIELD_ENCRYPTION_KEYS (urlsafe
base64, 32 bytes each, newest first: the first encrypts, any of them decrypts); after them, a key derived from
SECRET_KEY is always tried, so values written before FIELD_ENCRYPTION_KEYS was set stay readable until
`manage.py rotate_field_keys` re-encrypts everything under the first key. Python code sees the plain value
(from_db_value decrypts), so the dialler and the webhook signer need no change. A value without the prefix is a
plain value from before this field existed (read as is; migration 0006 encrypts them).

Encryption is not deterministic: these fields cannot be filtered on, which is also what the admin's lookup
allow-list wants.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


class DecryptionError(RuntimeError):
    """A stored secret that none of the configured keys decrypts."""


def derived_key() -> bytes:
    digest = hashlib.sha256(b"campaign-robot field encryption\x00" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _fernet() -> MultiFernet:
    keys = [k.encode() if isinstance(k, str) else k for k in settings.FIELD_ENCRYPTION_KEYS]
    return MultiFernet([Fernet(key) for key in [*keys, derived_key()]])


def encrypt(text: str) -> str:
    return PREFIX + _fernet().encrypt(text.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before encryption (see migration 0006)
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (or the key derived from SECRET_KEY): "
            "was a key removed before `manage.py rotate_field_keys` ran?"
        ) from None


class EncryptedTextField(models.TextField):
    """Text encrypted in the database and plain in Python; empty stays empty."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value

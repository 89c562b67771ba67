"""Encryption of personal data at rest, and blind indexes for exact lookup without decrypting.

Ciphertexts are text: ``<version>.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``. The key id
lets a deployment rotate keys: the first configured key encrypts, every configured key decrypts,
and ``zhiyuan rotate_keys`` re-encrypts old rows under the current key. The purpose of a value
(``phone``, ``id_number``…) is bound into the authentication tag as associated data, so a
ciphertext copied into another column does not decrypt.

Everything goes through :func:`cipher`, so a deployment can name another implementation (an SM4
cipher, say) in ``ZHIYUAN_CIPHER`` without touching the models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

VERSION = "v1"


class TamperedCiphertext(Exception):
    """A stored ciphertext failed authentication: it was altered, moved or its key is missing."""


class Cipher(Protocol):
    def encrypt(self, plaintext: str, *, purpose: str) -> str: ...

    def decrypt(self, token: str, *, purpose: str) -> str: ...

    def key_id_of(self, token: str) -> str: ...

    @property
    def current_key_id(self) -> str: ...


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse ``id:base64key,id:base64key``; the order is kept (the first key encrypts)."""
    keys: dict[str, bytes] = {}
    for item in spec.split(","):
        key_id, sep, material = item.strip().partition(":")
        if not sep or not key_id or not key_id.isalnum():
            raise ImproperlyConfigured("ZHIYUAN_ENCRYPTION_KEYS: each key is id:base64")
        key = base64.b64decode(material)
        if len(key) != 32:
            raise ImproperlyConfigured(f"ZHIYUAN_ENCRYPTION_KEYS: key {key_id} is not 256 bits")
        keys[key_id] = key
    if not keys:
        raise ImproperlyConfigured("ZHIYUAN_ENCRYPTION_KEYS names no key")
    return keys


class AesGcmCipher:
    """AES-256-GCM with a random 96-bit nonce per value."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = keys
        self._current = next(iter(keys))

    @property
    def current_key_id(self) -> str:
        return self._current

    def encrypt(self, plaintext: str, *, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(
            nonce, plaintext.encode("utf-8"), purpose.encode("ascii")
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{VERSION}.{self._current}.{body}"

    def key_id_of(self, token: str) -> str:
        parts = token.split(".", 2)
        if len(parts) != 3 or parts[0] != VERSION:
            raise TamperedCiphertext("not a Zhiyuan ciphertext")
        return parts[1]

    def decrypt(self, token: str, *, purpose: str) -> str:
        key_id = self.key_id_of(token)
        key = self._keys.get(key_id)
        if key is None:
            raise TamperedCiphertext(f"no key with id {key_id!r} is configured")
        try:
            raw = base64.urlsafe_b64decode(token.split(".", 2)[2])
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode("ascii"))
        except (InvalidTag, ValueError) as exc:
            raise TamperedCiphertext("ciphertext failed authentication") from exc
        return plain.decode("utf-8")


@cache
def cipher() -> Cipher:
    """The configured cipher (cached; tests that change keys call ``cipher.cache_clear()``)."""
    factory = import_string(settings.ZHIYUAN_CIPHER)
    made: Cipher = factory(parse_keys(settings.ZHIYUAN_ENCRYPTION_KEYS))
    return made


def blind_index(value: str, *, purpose: str) -> str:
    """A keyed hash for exact lookup and uniqueness without decrypting (HMAC-SHA256, 128 bits).

    The key is separate from the encryption keys and does not rotate with them: rotating it
    means recomputing every index, which ``rotate_keys --blind-index`` would have to do.
    """
    key = base64.b64decode(settings.ZHIYUAN_BLIND_INDEX_KEY)
    digest = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]

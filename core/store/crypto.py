"""The keyring: AES-256-GCM envelopes with HKDF-derived, rotatable keys.

Every secret column holds one self-describing envelope::

    +---------+--------------+-----------------+------------------------------+
    | version | key id       | nonce           | ciphertext ‖ GCM tag         |
    | 1 byte  | 8 bytes      | 12 bytes random | len(plaintext) + 16 bytes    |
    +---------+--------------+-----------------+------------------------------+

The associated data authenticated with it is ``header ‖ context``: the header (version and
key id) cannot be altered, and ``context`` binds the ciphertext to its table, column and row
id, so an envelope copied to another row or column fails to decrypt.

Keys are ordered as in Cloak's vault: the first (current) key encrypts, every key decrypts.
Each key is derived from a secret string with HKDF-SHA256; the key id is derived from the
same secret with a different HKDF ``info`` so it names the key without revealing it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ConfigurationError, DecryptionError, KeyringError

FORMAT_VERSION = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = 1 + KEY_ID_BYTES
MIN_ENVELOPE = HEADER_BYTES + NONCE_BYTES + 16
MIN_SECRET_CHARS = 16

_SALT = b"modeldesk/keyring/v1"


def _hkdf(secret: str, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=info).derive(
        secret.encode("utf-8")
    )


@dataclass(frozen=True)
class _Key:
    key_id: bytes
    aead: AESGCM

    def __repr__(self) -> str:  # never show key material
        return f"_Key(id={self.key_id.hex()})"


def _derive(secret: str) -> _Key:
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigurationError(
            f"A secret key must be at least {MIN_SECRET_CHARS} characters long."
        )
    return _Key(
        key_id=_hkdf(secret, b"key-id", KEY_ID_BYTES),
        aead=AESGCM(_hkdf(secret, b"aes-256-gcm", 32)),
    )


def associated_data(table: str, column: str, row_id: uuid.UUID | str) -> bytes:
    """The context a ciphertext is bound to: its table, column and row id."""
    return f"{table}\x1f{column}\x1f{row_id}".encode()


def key_id_of(envelope: bytes) -> str:
    """The hex key id an envelope was encrypted with (no decryption)."""
    if len(envelope) < MIN_ENVELOPE or envelope[0] != FORMAT_VERSION:
        raise DecryptionError("The stored value is not a Modeldesk envelope.")
    return envelope[1:HEADER_BYTES].hex()


class Keyring:
    """Ordered keys: the first encrypts, all decrypt."""

    def __init__(self, keys: Iterable[_Key]) -> None:
        self._keys = tuple(keys)
        if not self._keys:
            raise ConfigurationError("The keyring needs at least one key.")
        self._by_id = {k.key_id: k for k in self._keys}

    @classmethod
    def from_secrets(cls, current: str, retired: Iterable[str] = ()) -> Keyring:
        """Build a keyring from the current secret and the retired (decrypt-only) ones."""
        keys = [_derive(current)]
        for secret in retired:
            key = _derive(secret)
            if key.key_id not in {k.key_id for k in keys}:
                keys.append(key)
        return cls(keys)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_key_id}, keys={len(self._keys)})"

    @property
    def current_key_id(self) -> str:
        """Hex id of the key new envelopes are encrypted with."""
        return self._keys[0].key_id.hex()

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Hex ids of every key, current first."""
        return tuple(k.key_id.hex() for k in self._keys)

    def encrypt(self, plaintext: bytes, *, context: bytes, key_id: str | None = None) -> bytes:
        """Seal plaintext with the current key (or the configured key_id), bound to context."""
        key = self._keys[0] if key_id is None else self._by_id.get(bytes.fromhex(key_id))
        if key is None:
            raise KeyringError(f"Key {key_id} is not configured; it cannot encrypt.")
        header = bytes([FORMAT_VERSION]) + key.key_id
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + key.aead.encrypt(nonce, plaintext, header + context)

    def decrypt(self, envelope: bytes, *, context: bytes) -> bytes:
        """Open an envelope; DecryptionError if no key opens it in this context."""
        key_hex = key_id_of(envelope)
        key = self._by_id.get(envelope[1:HEADER_BYTES])
        if key is None:
            raise DecryptionError(
                f"The stored value was encrypted with key {key_hex}, which is not configured."
            )
        header, nonce = envelope[:HEADER_BYTES], envelope[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return key.aead.decrypt(nonce, envelope[HEADER_BYTES + NONCE_BYTES :], header + context)
        except InvalidTag:
            raise DecryptionError(
                "The stored value does not decrypt here (tampered with, or moved from "
                "another record)."
            ) from None

    def is_current(self, envelope: bytes) -> bool:
        """True if the envelope is already encrypted with the current key."""
        return envelope[1:HEADER_BYTES] == self._keys[0].key_id


def derive_token_key(secret: str, purpose: str) -> str:
    """A hex key for signing tokens (e.g. the sign-in cookie), derived for one purpose."""
    return _hkdf(secret, f"token:{purpose}".encode(), 32).hex()

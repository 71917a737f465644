"""The keyring (core.store.crypto): envelope layout, context binding, rotation. Pure: no
database."""

from __future__ import annotations

import uuid

import pytest

from core.errors import ConfigurationError, DecryptionError, KeyringError
from core.store.crypto import (
    FORMAT_VERSION,
    HEADER_BYTES,
    KEY_ID_BYTES,
    NONCE_BYTES,
    Keyring,
    associated_data,
    key_id_of,
)

SECRET = "crypto-test-secret-0123456789abcdef"
OTHER_SECRET = "another-secret-fedcba9876543210xyz"
ROW = uuid.UUID("11111111-2222-3333-4444-555555555555")
CONTEXT = associated_data("providers", "api_key_enc", ROW)
PLAINTEXT = b"sk-live-plaintext-value"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_secrets(SECRET)


# --- Envelope layout ----------------------------------------------------------------------


def test_envelope_layout_is_version_key_id_nonce_ciphertext_and_tag(keyring: Keyring) -> None:
    envelope = keyring.encrypt(PLAINTEXT, context=CONTEXT)

    assert envelope[0] == FORMAT_VERSION == 1
    assert envelope[1 : 1 + KEY_ID_BYTES].hex() == keyring.current_key_id
    assert KEY_ID_BYTES == 8 and NONCE_BYTES == 12 and HEADER_BYTES == 9
    # header + nonce + ciphertext (same length as the plaintext) + 16-byte GCM tag
    assert len(envelope) == 1 + 8 + 12 + len(PLAINTEXT) + 16
    assert key_id_of(envelope) == keyring.current_key_id


def test_envelope_does_not_contain_the_plaintext(keyring: Keyring) -> None:
    envelope = keyring.encrypt(PLAINTEXT, context=CONTEXT)

    assert PLAINTEXT not in envelope
    assert PLAINTEXT[:8] not in envelope


def test_key_id_does_not_reveal_the_secret(keyring: Keyring) -> None:
    assert len(keyring.current_key_id) == 16
    assert keyring.current_key_id not in SECRET.encode().hex()
    assert keyring.current_key_id != Keyring.from_secrets(OTHER_SECRET).current_key_id


def test_not_an_envelope_is_refused() -> None:
    with pytest.raises(DecryptionError, match="not a Modeldesk envelope"):
        key_id_of(b"too short")
    with pytest.raises(DecryptionError, match="not a Modeldesk envelope"):
        key_id_of(bytes([99]) + bytes(40))


# --- Round trip and nonce -----------------------------------------------------------------


def test_round_trip(keyring: Keyring) -> None:
    envelope = keyring.encrypt(PLAINTEXT, context=CONTEXT)

    assert keyring.decrypt(envelope, context=CONTEXT) == PLAINTEXT


def test_round_trip_of_empty_and_unicode_values(keyring: Keyring) -> None:
    for value in (b"", "clé – ключ – 鍵".encode()):
        assert keyring.decrypt(keyring.encrypt(value, context=CONTEXT), context=CONTEXT) == value


def test_same_keys_are_derived_from_the_same_secret() -> None:
    envelope = Keyring.from_secrets(SECRET).encrypt(PLAINTEXT, context=CONTEXT)

    assert Keyring.from_secrets(SECRET).decrypt(envelope, context=CONTEXT) == PLAINTEXT


def test_nonce_is_random_so_two_encryptions_differ(keyring: Keyring) -> None:
    first = keyring.encrypt(PLAINTEXT, context=CONTEXT)
    second = keyring.encrypt(PLAINTEXT, context=CONTEXT)

    assert first != second
    assert (
        first[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        != second[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
    )


# --- Context binding and tampering --------------------------------------------------------


@pytest.mark.parametrize(
    "other_context",
    [
        associated_data("models", "api_key_enc", ROW),  # another table
        associated_data("providers", "provider_config_enc", ROW),  # another column
        associated_data("providers", "api_key_enc", uuid.uuid4()),  # another row
        b"",  # no context at all
    ],
    ids=["other-table", "other-column", "other-row", "empty"],
)
def test_ciphertext_is_bound_to_table_column_and_row(
    keyring: Keyring, other_context: bytes
) -> None:
    envelope = keyring.encrypt(PLAINTEXT, context=CONTEXT)

    with pytest.raises(DecryptionError, match="tampered with, or moved"):
        keyring.decrypt(envelope, context=other_context)


@pytest.mark.parametrize(
    "position",
    [0 + 1, HEADER_BYTES, HEADER_BYTES + NONCE_BYTES, -1],
    ids=["key-id", "nonce", "ciphertext", "tag"],
)
def test_any_tampered_byte_fails(keyring: Keyring, position: int) -> None:
    envelope = bytearray(keyring.encrypt(PLAINTEXT, context=CONTEXT))
    envelope[position] ^= 0x01

    with pytest.raises(DecryptionError):
        keyring.decrypt(bytes(envelope), context=CONTEXT)


def test_truncated_envelope_fails(keyring: Keyring) -> None:
    envelope = keyring.encrypt(PLAINTEXT, context=CONTEXT)

    with pytest.raises(DecryptionError):
        keyring.decrypt(envelope[:-1], context=CONTEXT)


# --- Rotation: first key encrypts, every key decrypts -------------------------------------


def test_retired_key_decrypts_and_current_key_encrypts() -> None:
    old = Keyring.from_secrets(OTHER_SECRET)
    old_envelope = old.encrypt(PLAINTEXT, context=CONTEXT)
    rotated = Keyring.from_secrets(SECRET, retired=[OTHER_SECRET])

    assert rotated.decrypt(old_envelope, context=CONTEXT) == PLAINTEXT
    assert not rotated.is_current(old_envelope)
    new_envelope = rotated.encrypt(PLAINTEXT, context=CONTEXT)
    assert (
        key_id_of(new_envelope)
        == rotated.current_key_id
        == Keyring.from_secrets(SECRET).current_key_id
    )
    assert rotated.is_current(new_envelope)
    assert rotated.key_ids == (rotated.current_key_id, old.current_key_id)


def test_encrypting_with_a_named_key_the_database_chose() -> None:
    # A process started with the old secret first encrypts with the new one once rotation
    # has retired the old key (core.store.vault.encryption_key_id picks the key).
    swapped = Keyring.from_secrets(OTHER_SECRET, retired=[SECRET])
    new_id = Keyring.from_secrets(SECRET).current_key_id
    envelope = swapped.encrypt(PLAINTEXT, context=CONTEXT, key_id=new_id)
    assert key_id_of(envelope) == new_id
    assert Keyring.from_secrets(SECRET).decrypt(envelope, context=CONTEXT) == PLAINTEXT
    with pytest.raises(KeyringError, match="not configured") as caught:
        Keyring.from_secrets(SECRET).encrypt(
            PLAINTEXT, context=CONTEXT, key_id=swapped.current_key_id
        )
    assert SECRET not in str(caught.value) and OTHER_SECRET not in str(caught.value)


def test_a_retired_secret_equal_to_the_current_one_is_listed_once() -> None:
    assert len(Keyring.from_secrets(SECRET, retired=[SECRET]).key_ids) == 1


def test_unknown_key_id_is_named_without_key_material() -> None:
    foreign = Keyring.from_secrets(OTHER_SECRET)
    envelope = foreign.encrypt(PLAINTEXT, context=CONTEXT)

    with pytest.raises(DecryptionError) as caught:
        Keyring.from_secrets(SECRET).decrypt(envelope, context=CONTEXT)

    message = str(caught.value)
    assert foreign.current_key_id in message
    assert "not configured" in message
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in message and secret[:8] not in message
    assert PLAINTEXT.decode() not in message


# --- Secrets and their display ------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "short", "x" * 15])
def test_short_secret_is_refused(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        Keyring.from_secrets(secret)


def test_short_retired_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        Keyring.from_secrets(SECRET, retired=["tiny"])


def test_empty_keyring_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Keyring([])


def test_repr_shows_key_ids_but_no_secret() -> None:
    keyring = Keyring.from_secrets(SECRET, retired=[OTHER_SECRET])

    for text in (repr(keyring), str(keyring), repr(keyring._keys)):
        assert SECRET not in text and OTHER_SECRET not in text
        assert SECRET[:8] not in text
    assert keyring.current_key_id in repr(keyring)
    assert "keys=2" in repr(keyring)

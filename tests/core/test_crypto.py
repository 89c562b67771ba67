from __future__ import annotations

import base64
import os

import pytest
from django.db import connection

from tests.factories import make_user
from zhiyuan.core.crypto import AesGcmCipher, TamperedCiphertext, blind_index, cipher

KEY1 = base64.b64encode(os.urandom(32)).decode()
KEY2 = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def rotate(settings):
    def use(spec: str) -> None:
        settings.ZHIYUAN_ENCRYPTION_KEYS = spec
        cipher.cache_clear()

    yield use
    cipher.cache_clear()


def test_round_trip_and_fresh_nonce() -> None:
    c = cipher()
    a = c.encrypt("13812341234", purpose="phone")
    b = c.encrypt("13812341234", purpose="phone")
    assert a != b
    assert c.decrypt(a, purpose="phone") == "13812341234"


def test_a_ciphertext_moved_to_another_purpose_does_not_decrypt() -> None:
    token = cipher().encrypt("13812341234", purpose="phone")
    with pytest.raises(TamperedCiphertext):
        cipher().decrypt(token, purpose="id_number")


def test_a_flipped_bit_is_detected() -> None:
    token = cipher().encrypt("秘密", purpose="health")
    head, body = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(TamperedCiphertext):
        cipher().decrypt(
            f"{head}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", purpose="health"
        )


def test_old_keys_keep_decrypting_after_rotation(rotate) -> None:
    rotate(f"old:{KEY1}")
    token = cipher().encrypt("13812341234", purpose="phone")
    rotate(f"new:{KEY2},old:{KEY1}")
    assert cipher().current_key_id == "new"
    assert cipher().decrypt(token, purpose="phone") == "13812341234"
    rotate(f"new:{KEY2}")
    with pytest.raises(TamperedCiphertext, match="no key"):
        cipher().decrypt(token, purpose="phone")


def test_blind_index_is_stable_and_purpose_bound() -> None:
    assert blind_index("13812341234", purpose="phone") == blind_index(
        "13812341234", purpose="phone"
    )
    assert blind_index("13812341234", purpose="phone") != blind_index("13812341234", purpose="id")


def test_cipher_is_swappable() -> None:
    assert isinstance(cipher(), AesGcmCipher)


@pytest.mark.django_db
def test_no_plaintext_phone_in_the_users_table() -> None:
    user = make_user(phone="13912345678")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_user")
        dump = repr(cursor.fetchall())
    assert "13912345678" not in dump
    user.refresh_from_db()
    assert user.phone == "13912345678"
    assert user.masked_phone == "139****5678"

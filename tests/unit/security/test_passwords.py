"""Station passwords: salted, constant-time verified, length-checked."""

from __future__ import annotations

import pytest

from csms.security.passwords import (
    WeakPassword,
    generate_password,
    hash_password,
    verify_password,
)


def test_hash_verifies_only_the_right_password_and_is_salted() -> None:
    password = generate_password()
    stored = hash_password(password)
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored)
    assert hash_password(password) != stored
    assert password not in stored


@pytest.mark.parametrize("stored", ["", "sha256$zz$00", "md5$00$00", "a$b", "sha256$$"])
def test_malformed_stored_values_never_verify(stored: str) -> None:
    assert not verify_password("x" * 20, stored)


@pytest.mark.parametrize("password", ["short", "x" * 15, "x" * 41])
def test_passwords_outside_16_to_40_characters_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        hash_password(password)


def test_generated_passwords_have_the_requested_length() -> None:
    assert len(generate_password(16)) == 16
    assert len(generate_password(40)) == 40

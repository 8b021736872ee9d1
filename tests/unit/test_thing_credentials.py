"""The credential rules of products and devices (ROMA's reset-authentication rules)."""

from __future__ import annotations

import pytest

from fleetkey.config import Settings
from fleetkey.credentials import passwords
from fleetkey.errors import ValidationFailed
from fleetkey.things import credentials
from fleetkey.things.auth import LockoutPolicy


@pytest.mark.parametrize(
    "name", ["abcdefghij", "device-0001", "A" * 50, "0123456789", "a-b-c-d-e-f"]
)
def test_good_user_names(name: str) -> None:
    credentials.check_user_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "short", "a" * 9, "a" * 51, "with space1", "under_score", "dot.ted.name", "ümlaut-name"],
)
def test_bad_user_names(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        credentials.check_user_name(name)
    assert [p.field for p in caught.value.problems] == ["user_name"]
    assert caught.value.status == 422


@pytest.mark.parametrize(
    "password",
    [
        "Chosen-Passw0rd!x",
        "Aa1~" + "x" * 12,  # exactly 16
        "Aa1?" + "x" * 28,  # exactly 32
        "Zz9" + passwords.SPECIALS[:13],
    ],
)
def test_good_passwords(password: str) -> None:
    credentials.check_password(password)


@pytest.mark.parametrize(
    "password",
    [
        "Aa1~" + "x" * 11,  # 15 characters
        "Aa1~" + "x" * 29,  # 33 characters
        "chosen-passw0rd!x",  # no upper case
        "CHOSEN-PASSW0RD!X",  # no lower case
        "Chosen-Password!x",  # no digit
        "ChosenPassw0rdxyz",  # no special character
        "Chosen Passw0rd!x",  # a space is not allowed
        'Chosen-Passw0rd!x"',  # nor a quote
        "Chösen-Passw0rd!x",  # nor a non-ASCII letter
        "Chosen-Passw0rd!x٣",  # nor a non-ASCII digit
    ],
)
def test_bad_passwords(password: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        credentials.check_password(password)
    assert [p.field for p in caught.value.problems] == ["password"]


def test_new_user_names_follow_the_rule_and_differ() -> None:
    names = {credentials.new_user_name("d") for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert name.startswith("d-") and len(name) == 18
        credentials.check_user_name(name)


def test_the_lockout_policy_defaults_match_the_settings() -> None:
    fields = Settings.model_fields
    policy = LockoutPolicy()
    assert (
        (
            fields["device_auth_max_failures"].default,
            fields["device_auth_window_seconds"].default,
            fields["device_auth_lockout_seconds"].default,
        )
        == (policy.max_failures, policy.window_seconds, policy.lockout_seconds)
        == (5, 300, 300)
    )

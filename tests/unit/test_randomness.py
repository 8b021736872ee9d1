"""``credentials.randomness.random_text``: uniform characters from one CSPRNG call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from fleetkey.credentials import randomness
from fleetkey.credentials.passwords import SPECIALS, generate_password


def test_bytes_past_the_last_whole_alphabet_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    # "abc": 255 = 3 * 85 bytes map evenly, so byte 255 would favour "a" and is skipped.
    draws: Iterator[bytes] = iter([bytes([255, 0, 1, 2, 254, 255]), bytes([5, 9])])
    asked: list[int] = []

    def token_bytes(n: int) -> bytes:
        asked.append(n)
        return next(draws)

    monkeypatch.setattr(randomness.secrets, "token_bytes", token_bytes)
    assert randomness.random_text("abc", 6) == "abccca"
    # One call for twice the length, then twice what was still missing.
    assert asked == [12, 4]


def test_every_character_is_about_equally_likely() -> None:
    alphabet = (
        "abcdefghijklmnopqrstuvwxyz0123456789~!@#$%^&*()-_=+|[{}];:<>/?ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    )
    counts = Counter(randomness.random_text(alphabet, len(alphabet) * 1000))
    assert set(counts) == set(alphabet)
    # 1,000 expected each (standard deviation ~31): +-150 fails by chance about never.
    assert all(850 <= n <= 1150 for n in counts.values()), counts.most_common(3)


def test_a_bad_alphabet_is_refused() -> None:
    with pytest.raises(ValueError):
        randomness.random_text("", 4)
    with pytest.raises(ValueError):
        randomness.random_text("x" * 257, 4)


def test_generated_passwords_keep_the_policy() -> None:
    for _ in range(200):
        password = generate_password()
        assert len(password) == 24
        assert any(c.isdigit() for c in password) and any(c.isupper() for c in password)
        assert any(c.islower() for c in password) and any(c in SPECIALS for c in password)

"""HOTP/TOTP against the RFC test vectors, and the otpauth Key URI."""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from fleetkey.authenticators import otp
from fleetkey.authenticators.service import totp_candidates

RFC4226_SECRET = b"12345678901234567890"

# RFC 4226 Appendix D, Table 2: counter -> HOTP (SHA-1, 6 digits).
RFC4226_HOTP = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]

# RFC 6238 Appendix B: the reference implementation's per-mode seeds.
RFC6238_SEEDS = {
    "SHA1": bytes.fromhex("3132333435363738393031323334353637383930"),
    "SHA256": bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132"),
    "SHA512": bytes.fromhex(
        "3132333435363738393031323334353637383930313233343536373839303132"
        "3334353637383930313233343536373839303132333435363738393031323334"
    ),
}

# RFC 6238 Appendix B table: (unix time, T as hex, TOTP, mode); 8 digits, X = 30, T0 = 0.
RFC6238_TOTP = [
    (59, "0000000000000001", "94287082", "SHA1"),
    (59, "0000000000000001", "46119246", "SHA256"),
    (59, "0000000000000001", "90693936", "SHA512"),
    (1111111109, "00000000023523EC", "07081804", "SHA1"),
    (1111111109, "00000000023523EC", "68084774", "SHA256"),
    (1111111109, "00000000023523EC", "25091201", "SHA512"),
    (1111111111, "00000000023523ED", "14050471", "SHA1"),
    (1111111111, "00000000023523ED", "67062674", "SHA256"),
    (1111111111, "00000000023523ED", "99943326", "SHA512"),
    (1234567890, "000000000273EF07", "89005924", "SHA1"),
    (1234567890, "000000000273EF07", "91819424", "SHA256"),
    (1234567890, "000000000273EF07", "93441116", "SHA512"),
    (2000000000, "0000000003F940AA", "69279037", "SHA1"),
    (2000000000, "0000000003F940AA", "90698825", "SHA256"),
    (2000000000, "0000000003F940AA", "38618901", "SHA512"),
    (20000000000, "0000000027BC86AA", "65353130", "SHA1"),
    (20000000000, "0000000027BC86AA", "77737706", "SHA256"),
    (20000000000, "0000000027BC86AA", "47863826", "SHA512"),
]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_HOTP)))
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert otp.hotp(RFC4226_SECRET, counter) == expected
    assert otp.hotp(RFC4226_SECRET, counter, 6, "SHA1") == expected


def test_rfc4226_seven_and_eight_digits() -> None:
    # The 31-bit truncated values of Table 2, modulo 10^7 and 10^8.
    assert otp.hotp(RFC4226_SECRET, 7, 8) == "82162583"
    assert otp.hotp(RFC4226_SECRET, 8, 8) == "73399871"
    assert otp.hotp(RFC4226_SECRET, 0, 8) == "84755224"


@pytest.mark.parametrize(("unix_time", "t_hex", "expected", "mode"), RFC6238_TOTP)
def test_rfc6238_appendix_b(unix_time: int, t_hex: str, expected: str, mode: str) -> None:
    step = otp.totp_step(unix_time)
    assert step == int(t_hex, 16)
    assert otp.hotp(RFC6238_SEEDS[mode], step, 8, mode) == expected
    # The 6-digit code is the last six digits of the 8-digit one.
    assert otp.hotp(RFC6238_SEEDS[mode], step, 6, mode) == expected[-6:]


def test_rfc6238_seeds_are_the_reference_lengths() -> None:
    assert [len(RFC6238_SEEDS[m]) for m in ("SHA1", "SHA256", "SHA512")] == [20, 32, 64]
    assert RFC6238_SEEDS["SHA1"] == RFC4226_SECRET


def test_totp_step_boundaries() -> None:
    assert otp.totp_step(0) == 0
    assert otp.totp_step(29.999) == 0
    assert otp.totp_step(30) == 1
    assert otp.totp_step(59) == 1
    assert otp.totp_step(60, period=60) == 1
    # The time is past 2^32 seconds (a 32-bit time_t would wrap); the step is not.
    assert otp.totp_step(20000000000) == 0x27BC86AA


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("length", [0, 1, 20, 63, 64, 65, 127, 128, 129, 200])
def test_codes_use_the_same_hmac_as_the_standard_library(algorithm: str, length: int) -> None:
    """Keys shorter than, equal to and longer than each hash's block (64 or 128 bytes)."""
    secret = os.urandom(length)
    for counter in (0, 1, 2**32 + 5, 2**63):
        mac = hmac.digest(secret, struct.pack(">Q", counter), otp.ALGORITHMS[algorithm])
        offset = mac[-1] & 0x0F
        expected = (int.from_bytes(mac[offset : offset + 4]) & 0x7FFFFFFF) % 10**8
        assert otp.hotp(secret, counter, 8, algorithm) == f"{expected:08d}"


def test_matching_step_finds_the_step_of_the_code() -> None:
    seed = RFC4226_SECRET
    assert otp.matching_step(seed, "969429", range(0, 10), 6, "SHA1") == 3
    assert otp.matching_step(seed, "969429", range(4, 10), 6, "SHA1") is None
    assert otp.matching_step(seed, "287922", range(2, 13), 6, "SHA1") == 6
    assert otp.matching_step(seed, "000000", range(0, 10), 6, "SHA1") is None
    step = otp.totp_step(1111111111)
    assert (
        otp.matching_step(
            RFC6238_SEEDS["SHA512"], "99943326", range(step - 1, step + 2), 8, "SHA512"
        )
        == step
    )


def test_matching_step_stops_at_the_first_match_in_the_order_given() -> None:
    tried: list[int] = []

    def candidates(steps: list[int]) -> Iterator[int]:
        for step in steps:
            tried.append(step)
            yield step

    # RFC 4226 appendix D: counter 3 gives 969429.
    assert otp.matching_step(RFC4226_SECRET, "969429", candidates([3, 2, 4]), 6, "SHA1") == 3
    assert tried == [3]
    tried.clear()
    assert otp.matching_step(RFC4226_SECRET, "969429", candidates([2, 3, 4]), 6, "SHA1") == 3
    assert tried == [2, 3]
    tried.clear()
    # A wrong code is compared with every candidate.
    assert otp.matching_step(RFC4226_SECRET, "000000", candidates([2, 3, 4]), 6, "SHA1") is None
    assert tried == [2, 3, 4]


def test_totp_candidates_are_now_first_then_either_side_never_a_used_step() -> None:
    assert totp_candidates(100, 0) == [100, 99, 101]
    assert totp_candidates(100, 98) == [100, 99, 101]
    assert totp_candidates(100, 99) == [100, 101]
    assert totp_candidates(100, 100) == [101]
    assert totp_candidates(100, 101) == []


def test_a_code_of_two_steps_counts_for_the_current_one() -> None:
    # Found by search: this seed's SHA-1 codes for steps 999 and 1000 are the same.
    seed = bytes.fromhex("00000000000000000000000000000000001abbe4")
    assert otp.hotp(seed, 999) == otp.hotp(seed, 1000) == "399171"
    # Taken for step 1000, the later: the code cannot then be accepted again for it.
    assert otp.matching_step(seed, "399171", totp_candidates(1000, 0), 6, "SHA1") == 1000
    assert otp.matching_step(seed, "399171", totp_candidates(1000, 1000), 6, "SHA1") is None


def test_key_uri_matches_the_wiki_example() -> None:
    secret = otp.from_b32("HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ")
    uri = otp.key_uri("totp", "ACME Co", "john.doe@email.com", secret, 6, "SHA1")
    assert uri == (
        "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"
        "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
    )


def test_key_uri_simple_issuer() -> None:
    secret = b"Hello!\xde\xad\xbe\xef"
    uri = otp.key_uri("totp", "Example", "alice@google.com", secret, 8, "SHA256")
    assert uri == (
        "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP"
        "&issuer=Example&algorithm=SHA256&digits=8&period=30"
    )


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("digits", [6, 8])
def test_key_uri_parts(algorithm: str, digits: int) -> None:
    secret = os.urandom(20)
    uri = otp.key_uri("totp", "fleetkey", "C001", secret, digits, algorithm)
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert unquote(parts.path) == "/fleetkey:C001"
    query = parse_qsl(parts.query, strict_parsing=True)
    assert [k for k, _ in query] == ["secret", "issuer", "algorithm", "digits", "period"]
    params = dict(query)
    assert "=" not in params["secret"]
    assert params["secret"] == otp.b32(secret)
    assert otp.from_b32(params["secret"]) == secret
    assert params["issuer"] == "fleetkey"
    assert params["algorithm"] == algorithm
    assert params["digits"] == str(digits)
    assert params["period"] == "30"


def test_hotp_key_uri_carries_the_counter_not_the_period() -> None:
    uri = otp.key_uri("hotp", "fleetkey", "C001", RFC4226_SECRET, 6, "SHA1", counter=7)
    assert uri == (
        "otpauth://hotp/fleetkey:C001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=fleetkey&algorithm=SHA1&digits=6&counter=7"
    )


def test_key_uri_encodes_spaces_and_reserved_characters() -> None:
    uri = otp.key_uri("totp", "A&B Co", "x y@z", RFC4226_SECRET, 6, "SHA1")
    parts = urlsplit(uri)
    assert " " not in uri
    assert unquote(parts.path) == "/A&B Co:x y@z"
    assert dict(parse_qsl(parts.query))["issuer"] == "A&B Co"


def test_b32_known_values() -> None:
    assert otp.b32(RFC4226_SECRET) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert otp.b32(b"Hello!\xde\xad\xbe\xef") == "JBSWY3DPEHPK3PXP"
    assert otp.b32(b"f") == "MY"  # "MY======" without its padding
    assert otp.from_b32("MY") == b"f"
    assert otp.from_b32("MY======") == b"f"
    assert otp.from_b32("jbsw y3dp ehpk 3pxp") == b"Hello!\xde\xad\xbe\xef"


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 10, 16, 20, 32, 64])
def test_b32_round_trip(length: int) -> None:
    raw = os.urandom(length)
    text = otp.b32(raw)
    assert "=" not in text
    assert text == text.upper()
    assert otp.from_b32(text) == raw
    assert otp.from_b32(text.lower()) == raw


def test_from_b32_refuses_non_base32() -> None:
    with pytest.raises(ValueError):
        otp.from_b32("not base32!")
    with pytest.raises(ValueError):
        otp.from_b32("GEZDGNB1")  # 1 is not in the alphabet

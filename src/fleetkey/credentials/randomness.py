"""Random text for secrets and identifiers, from the operating system's CSPRNG.

``secrets.choice`` asks the operating system for random bits once per character, a cost
that showed at device rate (a bootstrap generates a password, a user name and a client
id: ~17% of its CPU). Here one ``token_bytes`` call serves a whole string; bytes at or
above the largest multiple of the alphabet's size are dropped (rejection sampling), so
every character is exactly as likely as with ``secrets.choice``.
"""

from __future__ import annotations

import secrets


def random_text(alphabet: str, length: int) -> str:
    size = len(alphabet)
    if not 0 < size <= 256:
        raise ValueError("an alphabet of 1 to 256 characters")
    unbiased = 256 - 256 % size  # bytes below this map evenly onto the alphabet
    out: list[str] = []
    while len(out) < length:
        # Twice the need: whatever the alphabet, more than half of all bytes are usable,
        # so one call nearly always suffices.
        for byte in secrets.token_bytes(2 * (length - len(out))):
            if byte < unbiased:
                out.append(alphabet[byte % size])
                if len(out) == length:
                    break
    return "".join(out)

"""The credential rules of products and devices: formats, reset, and what is shown once."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.credentials import passwords
from fleetkey.credentials.vault import Vault
from fleetkey.errors import FieldProblem, ValidationFailed, conflict
from fleetkey.things.models import Device, Product

USER_NAME = re.compile(r"^[A-Za-z0-9-]{10,50}$")
PASSWORD_MIN, PASSWORD_MAX = 16, 32
MASK = "********"


def check_user_name(value: str) -> None:
    if not USER_NAME.fullmatch(value):  # match() lets "$" accept a trailing newline
        raise ValidationFailed(
            [FieldProblem("user_name", "must be 10 to 50 letters, digits or hyphens")]
        )


def check_password(value: str) -> None:
    ok = (
        PASSWORD_MIN <= len(value) <= PASSWORD_MAX
        and any(c.isdigit() for c in value)
        and any(c.isascii() and c.isupper() for c in value)
        and any(c.isascii() and c.islower() for c in value)
        and any(c in passwords.SPECIALS for c in value)
        and all(c.isascii() and (c.isalnum() or c in passwords.SPECIALS) for c in value)
    )
    if not ok:
        raise ValidationFailed(
            [
                FieldProblem(
                    "password",
                    f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters with a digit, an "
                    f"upper-case letter, a lower-case letter and one of {passwords.SPECIALS}",
                )
            ]
        )


def new_user_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class IssuedCredential:
    """What a create or reset shows once: the user name and the clear password."""

    user_name: str
    password: str


def _generated_password(vault: Vault) -> tuple[passwords.StoredSecret, str]:
    password = passwords.generate_password()
    return passwords.store_generated(vault, password), password


def generated(vault: Vault, prefix: str) -> tuple[dict[str, str], IssuedCredential]:
    """A new owner's credential as ``apply`` makes it when nothing is given (a new user name,
    a generated password), without the look-up that a user name is free: 64 random bits
    make a clash with a product's name negligible, and a device's is refused by the
    database's unique index."""
    stored, shown = _generated_password(vault)
    name = new_user_name(prefix)
    changes = {"user_name": name, "secret_kind": stored.kind, "secret_hash": stored.hash}
    return changes, IssuedCredential(name, shown)


async def user_name_taken(
    session: AsyncSession, tenant_id: str, user_name: str, owner: Product | Device | None
) -> bool:
    """User names are unique in a tenant across products and devices (they identify the
    subject at connect time)."""
    for model in (Product, Device):
        row = await session.scalar(
            select(model).where(model.tenant_id == tenant_id, model.user_name == user_name)
        )
        if row is not None and row is not owner:
            return True
    return False


async def apply(
    session: AsyncSession,
    vault: Vault,
    owner: Product | Device,
    user_name: str | None,
    password: str | None,
    prefix: str,
) -> tuple[dict[str, str], IssuedCredential]:
    """The column changes that give ``owner`` a credential per ROMA's reset rules.

    Both empty: keep (or make) the user name and generate a password. Only a user name:
    change the name, keep the password. A password: it was chosen by a person (Argon2id);
    a generated one gets a keyed hash.
    """
    user_name = user_name or None
    password = password or None
    if user_name is not None:
        check_user_name(user_name)
    if password is not None:
        check_password(password)
    name = user_name or owner.user_name or new_user_name(prefix)
    if name != owner.user_name and await user_name_taken(session, owner.tenant_id, name, owner):
        raise conflict("credential.user_name_taken", f"user name {name} is already in use")
    shown = MASK
    if password is not None:
        stored = await passwords.store_chosen_async(password)
        shown = password
    elif user_name is None or owner.secret_hash is None:
        stored, shown = _generated_password(vault)
    else:
        stored = passwords.StoredSecret(owner.secret_kind or "", owner.secret_hash)
    changes = {"user_name": name, "secret_kind": stored.kind, "secret_hash": stored.hash}
    return changes, IssuedCredential(name, shown)

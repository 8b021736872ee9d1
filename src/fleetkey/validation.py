"""Field checks shared by every domain; problems are collected and reported together."""

from __future__ import annotations

from fleetkey.errors import FieldProblem, ValidationFailed


class Checks:
    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def text(
        self, field: str, value: str | None, max_len: int, required: bool = True, min_len: int = 1
    ) -> None:
        if value is None:
            if required:
                self.problems.append(FieldProblem(field, "must not be null"))
            return
        stripped = value.strip()
        if len(stripped) < min_len or len(value) > max_len:
            self.problems.append(
                FieldProblem(field, f"size must be between {min_len} and {max_len}")
            )

    def present(self, field: str, value: object) -> None:
        if value is None:
            self.problems.append(FieldProblem(field, "must not be null"))

    def add(self, field: str, message: str) -> None:
        self.problems.append(FieldProblem(field, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems)


def unstorable(value: str) -> bool:
    """NUL (PostgreSQL text refuses it) or an unpaired surrogate (not UTF-8 at all)."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def holds_unstorable_text(value: object) -> bool:
    """Whether any string (or key) inside a parsed JSON value is ``unstorable``.

    Iterative: a body nested as deep as ``json.loads`` allows is walked without recursion.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                return True
        elif isinstance(item, dict):
            if any(isinstance(k, str) and unstorable(k) for k in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False

"""One error family for every domain rule.

A ``DomainError`` carries a stable ``code`` (``"device.not_found"``), an HTTP status hint
for the native API and the values a surface needs to phrase its own message. Surfaces
translate codes into their vendor's codes; domains never know vendor names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field: ``field`` is a dotted path, ``message`` says what is wrong."""

    field: str
    message: str


@dataclass
class DomainError(Exception):
    code: str
    message: str
    status: int = 400
    params: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def not_found(code: str, message: str, /, **params: Any) -> DomainError:
    return DomainError(code, message, 404, params)


def conflict(code: str, message: str, /, **params: Any) -> DomainError:
    return DomainError(code, message, 409, params)


def invalid(code: str, message: str, /, **params: Any) -> DomainError:
    return DomainError(code, message, 422, params)


class ValidationFailed(DomainError):
    """Several input problems reported together."""

    def __init__(self, problems: list[FieldProblem], code: str = "validation.invalid") -> None:
        super().__init__(code, "; ".join(f"{p.field}: {p.message}" for p in problems), 422)
        self.problems = problems

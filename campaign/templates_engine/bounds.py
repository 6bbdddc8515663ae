"""Ranges for the numbers, texts and filter arguments a template may use. Python's big-int
arithmetic (``round(1, -10**9)`` builds ``10**10**9``) would otherwise make one render cost minutes
of C code that no timeout interrupts; inside these ranges every step is cheap."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2.exceptions import SecurityError

# The float range (~1.8e308): a larger int never comes from contact data, only from hostile
# arithmetic, and every operation on ints this size takes microseconds.
MAX_INT_BITS = 1024
# A float carries 15-17 significant digits, so a wider precision rounds nothing; within it
# ``10**precision`` stays a small number.
MAX_ROUND_PRECISION = 15
MAX_RENDERED_LENGTH = 1600
# Caps every string a filter or ``+`` builds, so chained filters cannot grow text without end.
MAX_INTERMEDIATE_LENGTH = 10 * MAX_RENDERED_LENGTH
# ``str.strip(chars)`` looks each stripped character up in ``chars``: cost is their product.
MAX_TRIM_CHARS = 64

# Stands for an argument whose value is only known at render (a meta variable).
UNKNOWN: Any = object()

Check = Callable[[Any], "str | None"]


class OutOfBounds(SecurityError):
    """A number, text or filter argument outside the ranges above."""


def number_problem(value: object) -> str | None:
    """Why ``value`` is too large a number to compute with, or None."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        return f"numbers are limited to {MAX_INT_BITS} bits (about 1.8e308)"
    return None


def result_problem(value: object, limit: int = MAX_INTERMEDIATE_LENGTH) -> str | None:
    """Why a computed value is too large to keep (a huge number or text over ``limit``), or None."""
    if isinstance(value, str) and len(value) > limit:
        return f"text would be over {limit} characters"
    return number_problem(value)


def _whole_number(low: int, high: int) -> Check:
    """Check for an int (not a float, whose ``10**x`` differs) from ``low`` to ``high``."""

    def check(value: Any) -> str | None:
        if isinstance(value, int) and low <= value <= high:
            return None
        return f"must be a whole number from {low} to {high}"

    return check


def _optional(check: Check) -> Check:
    """Let None (the filter's own default) through ``check``."""
    return lambda value: None if value is None else check(value)


def _one_of(*choices: str) -> Check:
    """Check for one of ``choices``."""
    quoted = [f"'{choice}'" for choice in choices]
    wording = ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return lambda value: None if value in choices else f"must be {wording}"


def _base(value: Any) -> str | None:
    """Python's ``int(text, base)`` takes 0 (read the prefix) or 2 to 36."""
    if isinstance(value, int) and (value == 0 or 2 <= value <= 36):
        return None
    return "must be 0 or a whole number from 2 to 36"


def _text_up_to(limit: int) -> Check:
    """Check for text of at most ``limit`` characters."""

    def check(value: Any) -> str | None:
        if isinstance(value, str) and len(value) <= limit:
            return None
        return f"must be text of at most {limit} characters"

    return check


def _divisor(value: Any) -> str | None:
    """A number other than zero, within the number range."""
    if isinstance(value, int | float) and value != 0:
        return number_problem(value)
    return "must be a number other than 0"


@dataclass(frozen=True)
class Arguments:
    """The parameters a filter or test takes after its value, and the checks on some of them."""

    names: tuple[str, ...]
    checks: Mapping[str, Check] = field(default_factory=dict)

    def problem(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
        """The first argument out of range, as "name problem"; UNKNOWN values are skipped.

        Arguments that do not fit the signature are left to the filter's own TypeError.
        """
        given = dict(zip(self.names, args, strict=False)) | dict(kwargs)
        for name, check in self.checks.items():
            value = given.get(name, UNKNOWN)
            if value is not UNKNOWN and (problem := check(value)) is not None:
                return f"{name} {problem}"
        return None


_LENGTH = _whole_number(0, MAX_INTERMEDIATE_LENGTH)
FILTER_ARGUMENTS: Mapping[str, Arguments] = {
    "round": Arguments(
        ("precision", "method"),
        {
            "precision": _whole_number(-MAX_ROUND_PRECISION, MAX_ROUND_PRECISION),
            "method": _one_of("common", "ceil", "floor"),
        },
    ),
    "truncate": Arguments(
        ("length", "killwords", "end", "leeway"),
        {"length": _LENGTH, "end": _text_up_to(MAX_RENDERED_LENGTH), "leeway": _optional(_LENGTH)},
    ),
    "int": Arguments(("default", "base"), {"base": _base}),
    "trim": Arguments(("chars",), {"chars": _optional(_text_up_to(MAX_TRIM_CHARS))}),
}
TEST_ARGUMENTS: Mapping[str, Arguments] = {
    "divisibleby": Arguments(("num",), {"num": _divisor}),
}


def bounded(kind: str, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap filter or test ``func``: check its arguments, refuse a huge number or grown text.

    Text may come out as long as it went in (a long meta value through ``default``), never longer
    than MAX_INTERMEDIATE_LENGTH beyond that.
    """
    arguments = (FILTER_ARGUMENTS if kind == "filter" else TEST_ARGUMENTS).get(name)
    # Jinja passes the environment first to @pass_environment filters (truncate).
    lead = 2 if hasattr(func, "jinja_pass_arg") else 1

    @functools.wraps(func)  # Keeps jinja_pass_arg, so Jinja still passes the environment.
    def call(*args: Any, **kwargs: Any) -> Any:
        label = f"{kind} '{name}'"
        if arguments is not None and (problem := arguments.problem(args[lead:], kwargs)):
            raise OutOfBounds(f"{label}: {problem}")
        value = args[lead - 1] if len(args) >= lead else None
        if problem := number_problem(value):
            raise OutOfBounds(f"{label}: {problem}")
        result = func(*args, **kwargs)
        grown = max(MAX_INTERMEDIATE_LENGTH, len(value) if isinstance(value, str) else 0)
        if problem := result_problem(result, grown):
            raise OutOfBounds(f"{label}: {problem}")
        return result

    return call

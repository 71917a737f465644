"""Numbers a document cannot hold, found before anything reads them.

Python refuses to turn a whole number of more than ``sys.get_int_max_str_digits()`` digits
into text or back (a ValueError from odd places: json.loads, str(), repr()), and a float
literal beyond the double range reads silently as infinity or 0. The parsers
(``validation.loads_strict``, ``documents``) put an ``Unreadable`` in place of such a
number, and ``unreadable_numbers`` names where each one is.
"""

from __future__ import annotations

import math
import sys
from typing import Any


class Unreadable:
    """Stands in for a number that could not be read; ``problem`` says why."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __repr__(self) -> str:
        return "<unreadable number>"


def _digits_problem() -> str:
    return (
        f"is a whole number with more than {sys.get_int_max_str_digits():,} digits "
        "(too long to read)"
    )


_TOO_LARGE = "is a number too large to represent"
_TOO_SMALL = "is a number too small to represent (it would read as 0)"


def read_int(text: str) -> int | Unreadable:
    """int(text), or an Unreadable when it has too many digits (a json parse_int hook)."""
    try:
        return int(text)
    except ValueError:
        return Unreadable(_digits_problem())


def float_problem(text: str, value: float) -> str | None:
    """Why a float literal's value misstates it: overflow to infinity, or a non-zero literal
    that underflows to 0 (explicit infinities and NaN are the callers' business)."""
    if math.isinf(value):
        return _TOO_LARGE
    mantissa = text.lower().split("e")[0]
    if value == 0 and any(ch in mantissa for ch in "123456789"):
        return _TOO_SMALL
    return None


def read_float(text: str) -> float | Unreadable:
    """float(text), or an Unreadable when the literal is beyond the float range."""
    value = float(text)
    problem = float_problem(text, value)
    return value if problem is None else Unreadable(problem)


def _int_problem(value: int) -> str | None:
    limit = sys.get_int_max_str_digits()  # 0: no limit
    # bit_length first (10**limit has about 3.32 * limit bits): cheap for ordinary numbers
    if limit and value.bit_length() >= 3 * limit and abs(value) >= 10**limit:
        return _digits_problem()
    return None


def _number_problem(value: Any) -> str | None:
    if isinstance(value, Unreadable):
        return value.problem
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _int_problem(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    return None


def unreadable_numbers(data: Any) -> list[tuple[str, str]]:
    """(path, problem) of every number in parsed data that cannot be used: an Unreadable,
    a whole number too long to turn into text, or a float that is not finite. Paths read
    like ``models[1].context_window`` (lists counted from 1); a problem starts with 'is'
    or, for a mapping key, 'has a key that is'."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # iterative: a deeply nested document must not exhaust the stack
        path, value = stack.pop()
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                problem = _number_problem(key)
                if problem is not None:
                    found.append((path, f"has a key that {problem}"))
                    continue
                items.append((f"{path}.{str(key)[:60]}" if path else str(key)[:60], item))
            stack += reversed(items)
        elif isinstance(value, (list, tuple)):
            stack += reversed([(f"{path}[{i}]", item) for i, item in enumerate(value, 1)])
        else:
            problem = _number_problem(value)
            if problem is not None:
                found.append((path, problem))
    return found


class UnreadableNumber(ValueError):
    """Parsed JSON holds numbers it cannot (see unreadable_numbers): ``found`` lists them."""

    def __init__(self, found: list[tuple[str, str]]) -> None:
        path, problem = found[0]
        super().__init__(f"{path or 'the value'} {problem}")
        self.found = found

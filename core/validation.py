"""Input validation shared by every service: names, JSON configs, URLs, keys, prices.

Each check returns the cleaned value or raises ``ValidationError`` with a sentence a person
understands, naming the field. Secret values are never quoted back in a message. A service
runs its checks through ``Problems`` so that one refusal names every bad field at once.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.errors import ValidationError
from core.numbers import UnreadableNumber, read_float, read_int, unreadable_numbers

NAME_MAX = 100
CONFIG_MAX_BYTES = 64 * 1024
API_KEY_MAX_BYTES = 8 * 1024
MODEL_ID_MAX = 255
PRICE_MAX = Decimal("1000000")
CONTEXT_WINDOW_MAX = 100_000_000
PRIORITY_MIN, PRIORITY_MAX = 0, 1_000_000
T = TypeVar("T")

# Bidi overrides/isolates and other invisible format characters that make a name lie about
# what it says (Trojan Source); category Cc covers the control characters.
_BIDI = {
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
}


class Problems:
    """The field problems found so far; ``raise_any`` refuses with all of them at once.

    ``check(clean_name, value)`` returns the cleaned value, or None after noting the problem,
    so the caller goes on checking the other fields and writes nothing until ``raise_any``
    has passed.
    """

    def __init__(self, found: Iterable[ValidationError] = ()) -> None:
        self.found: list[ValidationError] = list(found)

    def __bool__(self) -> bool:
        return bool(self.found)

    def add(self, problem: ValidationError) -> None:
        """Note a problem found by the caller."""
        self.found.append(problem)

    def check(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """check(*args, **kwargs), or None when it raised ValidationError (noted)."""
        try:
            return check(*args, **kwargs)
        except ValidationError as exc:
            self.found.append(exc)
            return None

    def raise_any(self) -> None:
        """Raise one ValidationError naming every problem noted, if there is any."""
        if self.found:
            raise ValidationError.of(self.found)


def clean_name(value: Any, *, field: str = "name", max_len: int = NAME_MAX) -> str:
    """NFC-normalised, trimmed display name without control or bidi characters."""
    if not isinstance(value, str):
        raise ValidationError(f"The {field} must be text.", field=field)
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValidationError(f"The {field} cannot be empty.", field=field)
    if len(name) > max_len:
        raise ValidationError(
            f"The {field} is {len(name)} characters long; at most {max_len} are allowed.",
            field=field,
        )
    for ch in name:
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValidationError(
                f"The {field} contains an invisible control or text-direction character "
                f"(U+{ord(ch):04X}); remove it.",
                field=field,
            )
    return name


def name_key(name: str) -> str:
    """The comparison key of a cleaned name: case-insensitive after NFC and trimming."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


class ForbiddenJsonConstant(ValueError):
    """NaN / Infinity / -Infinity met while parsing (kept apart from other ValueErrors)."""

    def __init__(self, token: str) -> None:
        super().__init__(f"{token} is not allowed in JSON")
        self.token = token


class NestedTooDeeply(ValueError):
    """JSON nested past what the parser recurses into (hostile input: refuse it, quickly)."""

    def __init__(self) -> None:
        super().__init__("nested too deeply")


def loads_json(text: str | bytes, **kwargs: Any) -> Any:
    """json.loads for text from outside: nesting deep enough to exhaust the parser's
    recursion (``[[[[…`` a hundred thousand times) is a NestedTooDeeply, a ValueError like
    every other unreadable document, never a RecursionError."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise NestedTooDeeply() from None


def _reject_constant(token: str) -> Any:
    raise ForbiddenJsonConstant(token)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def loads_strict(text: str) -> tuple[Any, str | None]:
    """json.loads that refuses NaN/Infinity (ForbiddenJsonConstant) and numbers it cannot
    hold (UnreadableNumber, naming where) and also returns the first key repeated within one
    object (None if none), which plain JSON silently drops."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, val in items:
            if key in seen and not repeated:
                repeated.append(key)
            seen[key] = val
        return seen

    value = loads_json(
        text,
        object_pairs_hook=pairs,
        parse_constant=_reject_constant,
        parse_int=read_int,
        parse_float=read_float,
    )
    found = unreadable_numbers(value)
    if found:
        raise UnreadableNumber(found)
    return value, (repeated[0] if repeated else None)


def parse_config_json(text: str | None, *, field: str = "config") -> dict[str, Any]:
    """Parse a JSON object strictly: duplicate keys, NaN/Infinity, non-objects, >64 KB refused."""
    if text is None or not text.strip():
        return {}
    if len(text.encode("utf-8")) > CONFIG_MAX_BYTES:
        raise ValidationError(f"The {field} is larger than 64 KB.", field=field)
    try:
        value, duplicate = loads_strict(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"The {field} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            field=field,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except NestedTooDeeply:
        raise ValidationError(f"The {field} is nested too deeply.", field=field) from None
    except ForbiddenJsonConstant as exc:
        token = exc.token
        offset = text.find(token)
        line, column = _position(text, max(offset, 0))
        raise ValidationError(
            f"The {field} uses {token}, which JSON does not allow, at line "
            f"{line}, column {column}.",
            field=field,
            line=line,
            column=column,
        ) from None
    except UnreadableNumber as exc:
        path, problem = exc.found[0]
        where = f"value at {path}" if path else "value"
        raise ValidationError(f"The {field}'s {where} {problem}.", field=field) from None
    if duplicate is not None:
        key = duplicate
        matches = list(re.finditer(re.escape(json.dumps(key)) + r"\s*:", text))
        offset = matches[1].start() if len(matches) > 1 else 0
        line, column = _position(text, offset)
        raise ValidationError(
            f"The {field} has the key {json.dumps(key)} twice (second at line "
            f"{line}, column {column}).",
            field=field,
            line=line,
            column=column,
        )
    return check_config_object(value, field=field)


def check_config_object(value: Any, *, field: str = "config") -> dict[str, Any]:
    """A config given as data (import, API) must be a JSON object of finite values."""
    if not isinstance(value, dict):
        kind = type(value).__name__ if value is not None else "null"
        raise ValidationError(
            f"The {field} must be a JSON object ({{...}}), not {kind}.", field=field
        )
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(
            f"The {field} holds a value JSON cannot represent (NaN, Infinity or a non-JSON type).",
            field=field,
        ) from None
    if len(encoded.encode("utf-8")) > CONFIG_MAX_BYTES:
        raise ValidationError(f"The {field} is larger than 64 KB.", field=field)
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(f"Every key of the {field} must be non-empty text.", field=field)
    return value


def check_base_url(value: Any, *, field: str = "base_url") -> str:
    """An http(s) URL with a host and without embedded credentials."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "The base URL must be a non-empty http:// or https:// URL.", field=field
        )
    url = value.strip()
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise ValidationError(
            "The base URL must not contain spaces or control characters.", field=field
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ValidationError("The base URL is not a valid URL.", field=field) from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("The base URL must start with http:// or https://.", field=field)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError(
            "The base URL must not contain a user name or password; put the "
            "key in the API key field.",
            field=field,
        )
    if not parts.hostname:
        raise ValidationError("The base URL has no host name.", field=field)
    if port == 0:
        raise ValidationError("The base URL has an invalid port.", field=field)
    if parts.fragment:
        raise ValidationError("The base URL must not contain a #fragment.", field=field)
    try:  # a bare IP must be a real one (refuses e.g. 999.1.1.1)
        if parts.hostname.replace(".", "").isdigit():
            ipaddress.ip_address(parts.hostname)
    except ValueError:
        raise ValidationError("The base URL's host is not a valid address.", field=field) from None
    return url.rstrip("/")


def check_api_key(value: Any, *, field: str = "api_key") -> str:
    """An API key: text, at most 8 KB, one line. The value is never echoed."""
    if not isinstance(value, str):
        raise ValidationError("The API key must be text.", field=field)
    key = value.strip()
    if not key:
        raise ValidationError("The API key cannot be blank.", field=field)
    if len(key.encode("utf-8")) > API_KEY_MAX_BYTES:
        raise ValidationError("The API key is longer than 8 KB.", field=field)
    if any(ch in key for ch in "\r\n\u2028\u2029"):
        raise ValidationError(
            "The API key must be a single line (it contains a line break).", field=field
        )
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise ValidationError("The API key contains a control character.", field=field)
    if any(unicodedata.category(ch) == "Cf" for ch in key):  # pasted with the key, never in it
        raise ValidationError(
            "The API key contains an invisible character (zero-width or text-direction); "
            "paste it again without it.",
            field=field,
        )
    return key


def check_price(value: Any, *, field: str) -> Decimal | None:
    """A non-negative, finite price per million tokens (None means unpriced)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValidationError(f"The {field.replace('_', ' ')} must be a number.", field=field)
    try:  # Decimal(int) directly: str() of a very long int raises ValueError
        price = Decimal(value) if isinstance(value, (Decimal, int)) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a number.", field=field
        ) from None
    if isinstance(value, float) and not math.isfinite(value) or not price.is_finite():
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a finite number.", field=field
        )
    if price < 0:
        raise ValidationError(f"The {field.replace('_', ' ')} cannot be negative.", field=field)
    if price > PRICE_MAX:
        raise ValidationError(
            f"The {field.replace('_', ' ')} is implausibly large "
            f"(over {PRICE_MAX} per million tokens).",
            field=field,
        )
    if price.as_tuple().exponent < -8:  # type: ignore[operator]
        raise ValidationError(
            f"The {field.replace('_', ' ')} has more than 8 decimal places.", field=field
        )
    return price


def check_context_window(value: Any, *, field: str = "context_window") -> int | None:
    """A positive whole number of tokens, or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValidationError("The context window must be a whole number of tokens.", field=field)
    text = "" if isinstance(value, int) else str(value).strip().replace("_", "")
    try:
        number = value if isinstance(value, int) else int(text)
    except ValueError:  # all digits but more than Python converts: out of range below
        if not (text.isascii() and text.isdigit()):
            raise ValidationError(
                "The context window must be a whole number of tokens.", field=field
            ) from None
        number = CONTEXT_WINDOW_MAX + 1
    if not 1 <= number <= CONTEXT_WINDOW_MAX:
        raise ValidationError(
            f"The context window must be between 1 and {CONTEXT_WINDOW_MAX:,}.", field=field
        )
    return number


def check_choice(value: Any, choices: tuple[str, ...], *, field: str) -> str:
    """One of a fixed list of values."""
    if value not in choices:
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be one of: {', '.join(choices)}.", field=field
        )
    return value


def check_model_id(value: Any, *, field: str = "model_id") -> str:
    """A provider's model identifier: one line of text, at most 255 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("The model ID cannot be empty.", field=field)
    model_id = value.strip()
    if len(model_id) > MODEL_ID_MAX:
        raise ValidationError(
            f"The model ID is longer than {MODEL_ID_MAX} characters.", field=field
        )
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in model_id):
        raise ValidationError(
            "The model ID must not contain spaces or control characters.", field=field
        )
    return model_id


def check_priority(value: Any, *, field: str = "priority") -> int:
    """A provider priority: a whole number in range (lower comes first); no bools or text."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not PRIORITY_MIN <= value <= PRIORITY_MAX
    ):
        raise ValidationError(
            f"The priority must be a whole number from {PRIORITY_MIN} to "
            f"{PRIORITY_MAX} (lower comes first).",
            field=field,
        )
    return value

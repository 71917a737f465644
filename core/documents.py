"""Import/export documents as files: strict YAML or JSON in, YAML or JSON out.

Parsing refuses what would silently change meaning (repeated keys, YAML aliases, NaN,
numbers beyond what Python reads: too many digits, or beyond the float range) and reports
positions or the path of the value but never quotes a line, which could hold a key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from core.errors import ValidationError
from core.numbers import (
    Unreadable,
    UnreadableNumber,
    float_problem,
    read_int,
    unreadable_numbers,
)
from core.validation import ForbiddenJsonConstant, NestedTooDeeply, loads_strict

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
FORMATS = ("yaml", "json")


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses repeated keys and aliases (no silent overwrite, no bombs)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in getattr(node, "value", ()):
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {str(key)[:60]!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            # an explicit tag on a value it does not fit (!!int abc, !!bool maybe...):
            # the tag is named, the value is not (it could be a key)
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the value cannot be read as {str(node.tag).rsplit(':', 1)[-1]}",
                node.start_mark,
            ) from None

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than Python reads: found by unreadable_numbers
            text = self.construct_scalar(node).replace("_", "").lstrip("+-")
            if not (text.isascii() and text.isdigit()):
                raise
            return read_int(text)

    def construct_yaml_float(self, node: Any) -> Any:
        value = super().construct_yaml_float(node)
        text = self.construct_scalar(node).replace("_", "").lower()
        problem = None if "inf" in text or "nan" in text else float_problem(text, value)
        return value if problem is None else Unreadable(problem)


# The base class registered its own functions; point the tags at the overrides.
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)


def _parse_yaml(text: str, name: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:  # only problem + position: the snippet may hold a key
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValidationError(
            f"{name} is not valid YAML{where}: {exc.problem or exc.context}.",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{name} is not valid YAML ({type(exc).__name__}).") from None


def _parse_json(text: str, name: str) -> Any:
    try:
        data, repeated = loads_strict(text)
    except NestedTooDeeply:
        raise ValidationError(f"{name} is nested too deeply.") from None
    except ForbiddenJsonConstant as exc:
        raise ValidationError(f"{name} uses {exc.token}, which JSON does not allow.") from None
    except UnreadableNumber as exc:
        raise _numbers_error(name, exc.found) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    if repeated is not None:
        raise ValidationError(
            f"{name}: the key {json.dumps(repeated[:60])} appears twice in one object."
        )
    return data


def _numbers_error(name: str, found: list[tuple[str, str]]) -> ValidationError:
    path, problem = found[0]
    more = (
        f" (and {len(found) - 1} more number{'s' if len(found) > 2 else ''} like it)"
        if len(found) > 1
        else ""
    )
    return ValidationError(f"{name}: {path or 'the document'} {problem}{more}.")


def load_document(path: Path) -> dict:
    """Read a YAML (.yaml/.yml) or JSON (.json) document; other names try JSON, then YAML."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise ValidationError(
            f"Cannot read {path}: {exc.strerror or type(exc).__name__}.", field="file"
        ) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ValidationError(f"{path.name} is larger than 5 MB, the limit for an import.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path.name} is not UTF-8 text (byte {exc.start}).") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = _parse_json(text, path.name)
        elif suffix in (".yaml", ".yml"):
            data = _parse_yaml(text, path.name)
        else:
            try:
                data = _parse_json(text, path.name)
            except ValidationError:
                data = _parse_yaml(text, path.name)
    except RecursionError:
        raise ValidationError(f"{path.name} is nested too deeply.") from None
    found = unreadable_numbers(data)
    if found:
        raise _numbers_error(path.name, found)
    if data is None:
        raise ValidationError(f"{path.name} is empty; expected providers and/or models lists.")
    if not isinstance(data, dict):
        raise ValidationError(
            f"{path.name}: the top level must be a mapping with providers "
            f"and/or models lists, not {type(data).__name__}."
        )
    return data


def dump_document(doc: Mapping[str, Any], fmt: str = "yaml") -> str:
    """Render a document as YAML or JSON text."""
    plain = json.loads(json.dumps(doc))  # plain types only, whatever mapping came in
    if fmt == "json":
        return json.dumps(plain, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return (
            "# Modeldesk export. API keys and secret config values are not included:\n"
            "# add api_key (a literal or ${ENV_VAR}) before importing elsewhere; a\n"
            "# variable other than the type's own key variable needs --allow-env NAME.\n"
            + yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100)
        )
    raise ValidationError(f"Unknown format '{fmt}'; choose yaml or json.", field="format")

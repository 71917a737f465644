"""``${VAR}`` references in import documents: which may be expanded, and expanding them.

References into ``settings.environ`` are expanded only where an export never shows the
result: ``api_key`` and the values of secret config keys (a catalog field marked secret, or
a secret-looking name; ``catalog.looks_secret``). Elsewhere a reference is refused, as is
any reference to Modeldesk's own settings (``config.is_own_setting``) and any name the
operator did not allow: the names passed as ``allow_env``, plus, for a provider's api_key
only, its type's catalog key variables (e.g. OPENAI_API_KEY) when the entry keeps the
type's own endpoint (no base_url of its own), so a document cannot send the operator's key
to an address it chose. A refused reference is named (the variable, never its value) with
the field's path; ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.config import is_own_setting
from core.errors import ValidationError

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_allow_env(names: Iterable[str]) -> frozenset[str]:
    """The variable names an operator allows an import to expand (never Modeldesk's own)."""
    allowed = set()
    for name in names:
        shown = str(name)[:60]
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise ValidationError(
                f"allow-env: '{shown}' is not an environment variable name "
                "(letters, digits and _, not starting with a digit).",
                field="allow_env",
            )
        if is_own_setting(name):
            raise ValidationError(
                f"allow-env: {shown} is one of Modeldesk's own settings; an "
                "import can never read it.",
                field="allow_env",
            )
        allowed.add(name)
    return frozenset(allowed)


class Refused(ValidationError):
    """Every refused reference of one field, each as 'path: message'."""

    problems: list[str]  # type: ignore[assignment]  # lines, as in DocumentError

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Environment:
    """Expands ${VAR} references under the rules in the module docstring."""

    def __init__(self, environ: Mapping[str, str], allowed: frozenset[str]) -> None:
        self.environ, self.allowed = environ, allowed

    def expand(
        self,
        value: Any,
        where: str,
        *,
        secret: bool,
        defaults: frozenset[str] = frozenset(),
        withheld: frozenset[str] = frozenset(),
    ) -> Any:
        """value with its references replaced (recursively); Refused names every refused
        one and where it is. ``defaults`` are allowed here as well as the operator's names;
        ``withheld`` are catalog names refused because the entry chose its own endpoint."""
        problems: list[str] = []
        out = self._expand(value, where, secret, defaults, withheld, problems)
        if problems:
            raise Refused(problems)
        return out

    def _expand(
        self,
        value: Any,
        where: str,
        secret: bool,
        defaults: frozenset[str],
        withheld: frozenset[str],
        problems: list[str],
    ) -> Any:
        if isinstance(value, dict):
            return {
                k: self._expand(v, f"{where}.{str(k)[:60]}", secret, defaults, withheld, problems)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                self._expand(v, f"{where}[{i}]", secret, defaults, withheld, problems)
                for i, v in enumerate(value, 1)
            ]
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            var = match.group(1)
            problem = self._refusal(var, secret, defaults, withheld)
            if problem is None:
                found = self.environ.get(var)
                if found:
                    return found
                problem = f"the environment variable {var[:60]} is not set."
            problems.append(f"{where}: {problem}")
            return ""

        return _REFERENCE.sub(substitute, value)

    def _refusal(
        self, var: str | None, secret: bool, defaults: frozenset[str], withheld: frozenset[str]
    ) -> str | None:
        """Why a reference may not be expanded here, or None (checked before any lookup)."""
        if var is None:
            return "'${' must start a ${VARIABLE} reference; write '$${' for a literal '${'."
        refused = f"${{{var[:60]}}} is refused:"
        if not secret:
            return (
                f"{refused} variables are expanded only in secret fields (api_key and "
                "secret config values), because other values are shown and exported."
            )
        if is_own_setting(var):
            return f"{refused} it is a Modeldesk setting, which an import never reads."
        if var in self.allowed or var in defaults:
            return None
        if var in withheld:
            return (
                f"{refused} the entry sets its own base_url, and the catalog's key "
                "variables go by default only to the provider's own endpoint (allow it "
                f"with --allow-env {var[:60]})."
            )
        return (
            f"{refused} the variable is not allowed for this import (allow it with "
            f"--allow-env {var[:60]})."
        )

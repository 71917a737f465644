"""LiteLLM's logging payloads: one usage report per ``StandardLoggingPayload``.

The file is JSON Lines, one payload per line: what a LiteLLM custom logger or callback
receives as ``kwargs["standard_logging_object"]`` (litellm/types/utils.py), written with
``json.dumps(payload, default=str)``. A line may also hold ``{"standard_logging_object":
{...}}``. Only counts, ids, names and LiteLLM's cost are read: ``messages``, ``response``
and the error text are never copied, stored or logged.

Mapping::

    id                              idempotency key "litellm:<id>" (the response id)
    endTime (else startTime)        when, epoch seconds (a float), UTC
    model                           the model id priced (as sent to the provider)
    custom_llm_provider, api_base   the provider record: --provider [SYSTEM=]NAME, else the
                                    record whose base URL has api_base's host and port, else
                                    the one record of that type (core.usage.otlp.ProviderMap)
    prompt_tokens                   input_tokens
    completion_tokens               output_tokens
    metadata.usage_object           cached reads: prompt_tokens_details.cached_tokens, else
                                    cache_read_input_tokens; cache writes:
                                    cache_creation_input_tokens, else prompt_tokens_details
                                    .cache_creation_tokens / .cache_write_tokens; reasoning:
                                    completion_tokens_details.reasoning_tokens
    metadata.user_api_key_user_id,  the event's user when one is a Modeldesk username (the
    end_user (else the request's    key's user first); otherwise kept as the tags
    ``user`` parameter)             litellm_user / end_user
    request_tags                    "key=value" → key: value; a bare tag t → t: "true"
    metadata team alias (else id),  tags team, key_alias, model_group (the router's name,
    key alias, model_group          when it is not the model id)
    response_cost                   LiteLLM's cost, kept beside ours (source_cost_usd)

Token convention: LiteLLM's ``Usage`` is OpenAI-style: ``prompt_tokens`` counts cached reads
and cache writes (its Anthropic transformation adds them in) and ``completion_tokens``
counts reasoning, which is Modeldesk's convention, so counts are taken as they are. A usage
object in Anthropic's own shape (``input_tokens`` without ``prompt_tokens``) is converted:
input = input_tokens + cache reads + cache writes. Parts larger than their total are refused
with the reason, never guessed at.

Failed calls (``status`` "failure") are counted when they report tokens (the provider
billed them), tagged ``status=failure``; a failure without tokens is skipped. LiteLLM cache
hits (``cache_hit`` true: no provider call, nothing billed) are skipped too. Skipped lines
are counted in the import's summary, not reported as bad.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

from core.usage.inputs import UsageInput
from core.usage.otlp import ProviderMap
from core.validation import loads_json

# custom_llm_provider values whose catalog type id differs (LiteLLM's names → ours).
PROVIDER_TYPES = {
    "azure": "azure_openai",
    "azure_ai": "azure",
    "bedrock": "amazon_bedrock",
    "bedrock_converse": "amazon_bedrock",
    "vertex_ai": "google_vertex",
    "vertex_ai_beta": "google_vertex",
    "gemini": "google_gemini",
    "xai": "x_ai",
    "mistral": "mistral",
    "codestral": "mistral",
    "ollama_chat": "ollama",
    "hosted_vllm": "vllm",
    "lm_studio": "lm_studio",
    "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai",
    "huggingface": "huggingface",
    "nvidia_nim": "nvidia",
    "cohere_chat": "cohere",
    "litellm_proxy": "litellm",
}
_EIGHT_PLACES = Decimal("0.00000001")
MAX_TAG = 200


@dataclass
class PayloadReport:
    """What parsing found: (line, report or reason) per usage line, and lines skipped."""

    items: list[tuple[int, UsageInput | str]] = field(default_factory=list)
    skipped: int = 0  # LiteLLM cache hits, failures without tokens


def _payload(value: Any) -> dict[str, Any] | None:
    """The StandardLoggingPayload a JSON value holds, None when it holds none."""
    if isinstance(value, dict) and isinstance(value.get("standard_logging_object"), dict):
        value = value["standard_logging_object"]
    if isinstance(value, dict) and "call_type" in value and "startTime" in value:
        return value
    return None


def detect(text: str) -> bool:
    """Whether the first non-blank line is a LiteLLM StandardLoggingPayload."""
    for raw in text.splitlines():
        if raw.strip():
            try:
                return _payload(loads_json(raw)) is not None
            except ValueError:
                return False
    return False


def _count(value: Any, name: str) -> int:
    """A token count: None or absent is 0; a whole number ≥ 0 (an integral float too)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{name} is not a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{name} is not a whole number")
    if value < 0:
        raise ValueError(f"{name} cannot be negative ({value})")
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _when(payload: Mapping[str, Any]) -> datetime:
    for name in ("endTime", "startTime"):
        value = payload.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or value <= 0:
                break
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                break
    raise ValueError("endTime/startTime is not a time in epoch seconds")


def _tokens(payload: Mapping[str, Any]) -> dict[str, int]:
    """The five counts in Modeldesk's convention (see the module docstring)."""
    usage = _mapping(_mapping(payload.get("metadata")).get("usage_object"))
    prompt = _mapping(usage.get("prompt_tokens_details"))
    completion = _mapping(usage.get("completion_tokens_details"))
    cached = _count(prompt.get("cached_tokens"), "prompt_tokens_details.cached_tokens")
    if not cached:
        cached = _count(usage.get("cache_read_input_tokens"), "cache_read_input_tokens")
    writes = _count(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    for name in ("cache_creation_tokens", "cache_write_tokens"):
        writes = writes or _count(prompt.get(name), f"prompt_tokens_details.{name}")
    if "prompt_tokens" in payload:
        input_tokens = _count(payload.get("prompt_tokens"), "prompt_tokens")
        output = _count(payload.get("completion_tokens"), "completion_tokens")
    elif "input_tokens" in usage:  # Anthropic's shape: input_tokens excludes the cache parts
        input_tokens = _count(usage.get("input_tokens"), "input_tokens") + cached + writes
        output = _count(usage.get("output_tokens"), "output_tokens")
    else:
        raise ValueError("no prompt_tokens")
    return {
        "input_tokens": input_tokens,
        "output_tokens": output,
        "cached_input_tokens": cached,
        "cache_write_tokens": writes,
        "reasoning_tokens": _count(
            completion.get("reasoning_tokens"), "completion_tokens_details.reasoning_tokens"
        ),
    }


def source_cost(value: Any) -> Decimal | None:
    """LiteLLM's response_cost as Decimal, rounded half-up to 8 places like ours; None when
    LiteLLM computed none."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(repr(value) if isinstance(value, float) else str(value))
    except ArithmeticError:
        return None
    if not cost.is_finite():
        return None
    return cost.quantize(_EIGHT_PLACES, rounding=ROUND_HALF_UP)


def _tags(payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for raw in payload.get("request_tags") or []:
        if isinstance(raw, str) and raw.strip():
            name, sep, given = raw.strip().partition("=")
            tags[name.strip()] = given.strip() if sep else "true"
    team = _text(metadata.get("user_api_key_team_alias")) or _text(metadata.get("team_alias"))
    team = team or _text(metadata.get("user_api_key_team_id")) or _text(metadata.get("team_id"))
    for key, value in (
        ("team", team),
        ("key_alias", _text(metadata.get("user_api_key_alias"))),
    ):
        if value:
            tags.setdefault(key, value[:MAX_TAG])
    group = _text(payload.get("model_group"))
    if group and group != _text(payload.get("model")):
        tags.setdefault("model_group", group[:MAX_TAG])
    if payload.get("status") == "failure":
        tags["status"] = "failure"
    return tags


def _user(
    payload: Mapping[str, Any], metadata: Mapping[str, Any], is_user: Callable[[str], bool]
) -> tuple[str | None, dict[str, str]]:
    """The Modeldesk username among the key's user and the end user, and the others as tags."""
    parameters = _mapping(payload.get("model_parameters"))
    candidates = (
        ("litellm_user", _text(metadata.get("user_api_key_user_id"))),
        (
            "end_user",
            _text(payload.get("end_user"))
            or _text(metadata.get("user_api_key_end_user_id"))
            or _text(parameters.get("user")),
        ),
    )
    user, tags = None, {}
    for tag, value in candidates:
        if value is None:
            continue
        if user is None and len(value) <= 64 and is_user(value):
            user = value
        else:
            tags[tag] = value[:MAX_TAG]
    return user, tags


def _host(api_base: str | None) -> tuple[str | None, int | None]:
    if not api_base:
        return None, None
    try:
        parts = urlsplit(api_base)
        return (parts.hostname.lower() if parts.hostname else None), parts.port
    except ValueError:
        return None, None


def to_input(
    payload: Mapping[str, Any], providers: ProviderMap, is_user: Callable[[str], bool]
) -> UsageInput | None:
    """A payload's usage report, None when it is skipped; ValueError with every reason."""
    if payload.get("cache_hit") is True:
        return None
    problems: list[str] = []
    counts: dict[str, int] = {}
    try:
        counts = _tokens(payload)
    except ValueError as exc:
        problems.append(str(exc))
    failed = payload.get("status") == "failure"
    if failed and not problems and not (counts["input_tokens"] or counts["output_tokens"]):
        return None
    try:
        stamp = _when(payload)
    except ValueError as exc:
        problems.append(str(exc))
    response_id = _text(payload.get("id"))
    if response_id is None:
        problems.append("the payload has no id")
    model = _text(payload.get("model"))
    if model is None:
        problems.append("the payload names no model")
    system = (_text(payload.get("custom_llm_provider")) or "").lower()
    host, port = _host(_text(payload.get("api_base")))
    try:
        provider = providers.resolve(
            system,
            PROVIDER_TYPES.get(system, system),
            host,
            port,
            what="the payload",
            names="custom_llm_provider",
        )
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    metadata = _mapping(payload.get("metadata"))
    user, user_tags = _user(payload, metadata, is_user)
    return UsageInput(
        timestamp=stamp,
        provider=provider,
        model=model or "",
        user=user,
        tags={**_tags(payload, metadata), **user_tags},
        idempotency_key=f"litellm:{(response_id or '')[:180]}",
        source_cost_usd=source_cost(payload.get("response_cost")),
        **counts,
    )


def parse(text: str, providers: ProviderMap, is_user: Callable[[str], bool]) -> PayloadReport:
    """Each non-blank line: (line number, report or why it is bad); skipped lines counted."""
    found = PayloadReport()
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = loads_json(raw)
        except ValueError as exc:
            found.items.append((line, f"not JSON ({str(exc).split(':')[0][:60]})"))
            continue
        payload = _payload(value)
        if payload is None:
            found.items.append((line, "not a LiteLLM StandardLoggingPayload"))
            continue
        try:
            report = to_input(payload, providers, is_user)
        except ValueError as exc:
            found.items.append((line, str(exc)[:400]))
            continue
        if report is None:
            found.skipped += 1
        else:
            found.items.append((line, report))
    return found

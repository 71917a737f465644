"""What kind of model an id names, and the registry features its catalog capabilities give.

The catalog's one rule, used when building model facts and when discovery meets an id the
catalog lacks: embedding and rerank models are told by their id or family (models.dev has
no "kind" field); a chat model takes text in and gives text out with room for an answer.
"""

from __future__ import annotations

import re

_EMBEDDING = re.compile(r"embed|(?:^|[-_/. ])(?:bge|e5|gte|voyage)(?:$|[-_/. ])")
_MIN_ANSWER = 16  # output tokens below which a "model" is a classifier, not a chat model


def kind_from_id(model_id: str, family: str | None = None) -> str | None:
    """'rerank' or 'embedding' when the id (or family) says so, by the catalog's one rule;
    None when it does not (the id alone cannot tell an inference model)."""
    lowered = f"{model_id} {family or ''}".lower()
    if "rerank" in lowered:
        return "rerank"
    if _EMBEDDING.search(lowered):
        return "embedding"
    return None


def features_of(
    model_id: str,
    *,
    input_modalities: frozenset[str],
    output_modalities: frozenset[str],
    tool_call: bool | None,
    reasoning: bool | None,
    structured_output: bool | None,
    family: str | None = None,
    max_output_tokens: int | None = None,
) -> frozenset[str]:
    """Registry feature names from catalog capabilities.

    models.dev has no "kind" field, so embedding and rerank models are told by their id or
    family (embedding families such as bge, e5, gte, voyage), and chat needs text in and
    text out (a speech-to-text model is not a chat model) with room for an answer (a
    classifier that emits two tokens is not one either).
    """
    kind = kind_from_id(model_id, family)
    if kind is not None:
        return frozenset({kind})
    found: set[str] = set()
    if (
        "text" in input_modalities
        and "text" in output_modalities
        and (max_output_tokens is None or max_output_tokens >= _MIN_ANSWER)
    ):
        found.add("chat")
    if "image" in input_modalities:
        found.add("vision")
    if "audio" in input_modalities or "audio" in output_modalities:
        found.add("audio")
    if tool_call:
        found.add("tool_use")
    if structured_output:
        found.add("json_mode")
    if reasoning:
        found.add("reasoning")
    return frozenset(found)

"""Token budgets for reasoning models.

A reasoning model spends hidden tokens thinking before it writes the answer; with a tiny
output cap (the classic ``max_tokens=1`` ping) it runs out mid-thought and returns nothing
or an error, which a health check would misread as a broken provider. So any model whose
name says it reasons gets at least ``REASONING_BUDGET`` output tokens.
"""

from __future__ import annotations

import re

REASONING_BUDGET = 2048  # thinking plus a short answer; billed only for tokens actually used
THINKING_BUDGET = 1024  # Anthropic's minimum budget_tokens for extended thinking
MIN_ANSWER = 16

# OpenAI o-series and GPT-5 take ``max_completion_tokens`` and reject ``max_tokens``.
_OPENAI_REASONING = re.compile(r"(^|[/:])(o[1-9](-|$|\b)|gpt-5)", re.IGNORECASE)
_REASONING = re.compile(
    r"(^|[/:])(o[1-9](-|$|\b)|gpt-5)|thinking|reason|deepseek-r1|(^|[-/:])r1([-:]|$)|qwq"
    r"|magistral|gemini-(2\.5|[3-9])|grok-(3-mini|[4-9])|gpt-oss|qwen3",
    re.IGNORECASE,
)


def is_reasoning(model: str) -> bool:
    """True when the model's name says it thinks before answering."""
    return bool(_REASONING.search(model))


def is_openai_reasoning(model: str) -> bool:
    """True for OpenAI's reasoning families, which need ``max_completion_tokens``."""
    return bool(_OPENAI_REASONING.search(model))


def output_budget(model: str, requested: int) -> int:
    """The output-token cap to send: at least REASONING_BUDGET for reasoning models."""
    requested = max(int(requested), MIN_ANSWER)
    return max(requested, REASONING_BUDGET) if is_reasoning(model) else requested

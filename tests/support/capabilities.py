"""ModelCapability rows built by hand, and a small fixed catalogue of them, for the
Explorer's pure tests (filters, comparison, workload)."""

from __future__ import annotations

from decimal import Decimal

from core.explorer.registry import ModelCapability


def cap(
    model: str,
    *,
    provider_type: str = "openai",
    quality: str | None = None,
    price: str | None = None,
    context: int | None = None,
    features: str = "chat",
    name: str = "",
    deprecated: bool = False,
    **kw,
) -> ModelCapability:
    """A catalogue row: price is the blended price, features a space-separated list."""
    return ModelCapability(
        provider_type=provider_type,
        model=model,
        speed="medium",
        quality=quality,
        cost=None if price is None else "low",
        context_window=context,
        features=frozenset(features.split()),
        name=name or model,
        blended_price=None if price is None else Decimal(price),
        deprecated=deprecated,
        provider_label=provider_type,
        **kw,
    )


# Five models that differ in every filter: rated and not, priced and not, deprecated.
MODELS = (
    cap("gpt-4o", quality="high", price="4.375", context=128_000, features="chat vision"),
    cap(
        "gpt-4o-mini",
        quality="medium",
        price="0.2625",
        context=128_000,
        features="chat vision tool_use",
    ),
    cap(
        "claude-x",
        provider_type="anthropic",
        price="6",
        context=200_000,
        features="chat tool_use",
        name="Claude X",
    ),
    cap("mystery", provider_type="groq", features="chat"),
    cap("old-one", price="1", context=8_000, deprecated=True),
)


def names(models) -> list[str]:
    """The model ids of models, in order."""
    return [m.model for m in models]

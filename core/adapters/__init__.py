"""The adapters, one per wire protocol, keyed by the catalog's protocol names.

    provider type (catalog row) ──protocol──▶ ADAPTERS[protocol] ──▶ list_models / probe / complete

Provider types are data and protocols are code: Groq or vLLM are catalog rows pointing at
the OpenAI-compatible adapter, never branches here. See base.py for the contract; the
``Target`` of a stored or environment provider is built on the record side
(``core.records.credentials.target_from_credentials``).
"""

from __future__ import annotations

from core import catalog
from core.adapters.anthropic import AnthropicAdapter
from core.adapters.azure_openai import AzureOpenAIAdapter
from core.adapters.base import Adapter, Completion, ModelInfo, ProbeResult, Target
from core.adapters.bedrock import BedrockAdapter
from core.adapters.cohere import CohereAdapter
from core.adapters.gemini import GeminiAdapter
from core.adapters.ollama import OllamaAdapter
from core.adapters.openai_compat import OpenAICompatAdapter
from core.adapters.vertex import VertexAdapter

ADAPTERS: dict[str, Adapter] = {
    adapter.protocol: adapter
    for adapter in (
        OpenAICompatAdapter(),
        AnthropicAdapter(),
        GeminiAdapter(),
        OllamaAdapter(),
        AzureOpenAIAdapter(),
        BedrockAdapter(),
        VertexAdapter(),
        CohereAdapter(),
    )
}

__all__ = ["ADAPTERS", "Adapter", "Completion", "ModelInfo", "ProbeResult", "Target", "adapter_for"]


def adapter_for(provider_type: str) -> Adapter:
    """The adapter speaking this provider type's protocol (ValidationError for unknown types)."""
    return ADAPTERS[catalog.get_provider_type(provider_type).protocol]

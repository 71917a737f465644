"""The adapters, one per wire protocol, keyed by the catalog's protocol names.

    provider type (catalog row) ──protocol──▶ ADAPTERS[protocol] ──▶ list_models / probe / complete
    Credentials (stored record) ─┐
    SystemProvider (environment) ┴─▶ Target (base URL, key, config)

Provider types are data and protocols are code: Groq or vLLM are catalog rows pointing at
the OpenAI-compatible adapter, never branches here. See base.py for the contract.
"""

from __future__ import annotations

from core import catalog
from core.adapters.anthropic import AnthropicAdapter
from core.adapters.azure_openai import AzureOpenAIAdapter
from core.adapters.base import Adapter, Completion, ModelInfo, ProbeResult, Target, redact
from core.adapters.bedrock import BedrockAdapter
from core.adapters.cohere import CohereAdapter
from core.adapters.gemini import GeminiAdapter
from core.adapters.ollama import OllamaAdapter
from core.adapters.openai_compat import OpenAICompatAdapter
from core.adapters.vertex import VertexAdapter
from core.errors import ConfigurationError
from core.records.providers import Credentials
from core.records.system_providers import SystemProvider

ADAPTERS: dict[str, Adapter] = {adapter.protocol: adapter for adapter in (
    OpenAICompatAdapter(), AnthropicAdapter(), GeminiAdapter(), OllamaAdapter(),
    AzureOpenAIAdapter(), BedrockAdapter(), VertexAdapter(), CohereAdapter())}

__all__ = ["ADAPTERS", "Adapter", "Completion", "ModelInfo", "ProbeResult", "Target",
           "adapter_for", "redact", "target_from_credentials", "target_from_system"]


def adapter_for(provider_type: str) -> Adapter:
    """The adapter speaking this provider type's protocol (ValidationError for unknown types)."""
    return ADAPTERS[catalog.get_provider_type(provider_type).protocol]


def _target(provider_type: str, base_url: str | None, api_key: str | None,
            config: dict) -> Target:
    if not base_url:
        label = catalog.get_provider_type(provider_type).label
        raise ConfigurationError(f"No endpoint is known for this {label} provider: "
                                 "set its base URL or the fields the URL is built from.")
    return Target(provider_type=provider_type, base_url=base_url, api_key=api_key or None,
                  config=dict(config))


def target_from_credentials(creds: Credentials) -> Target:
    """The call target of a stored provider (its decrypted credentials)."""
    return _target(creds.provider_type, creds.base_url, creds.api_key, dict(creds.config))


def target_from_system(system: SystemProvider) -> Target:
    """The call target of an environment-defined provider."""
    ptype = catalog.get_provider_type(system.provider_type)
    base_url = system.base_url or ptype.base_url_for(system.config)
    return _target(system.provider_type, base_url, system.api_key, system.config)

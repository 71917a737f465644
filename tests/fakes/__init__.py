"""Fake LLM providers on loopback for adapter, health and connection tests.

    from tests.fakes import FakeProvider, MODES

    with FakeProvider("openai", key=CANARY, latency=0.05) as fake:
        target = fake.target()              # a core Target pointing at fake.base_url
        fake.mode = "429"                   # switch failure modes between calls
        assert fake.requests[-1].headers["authorization"] == f"Bearer {CANARY}"

Protocols: the catalog's protocol names (openai, anthropic, gemini, ollama, azure_openai,
bedrock, vertex, cohere). See server.py for the modes.
"""

from tests.fakes.server import (
    HUGE_BYTES,
    METADATA_URL,
    MODES,
    FakeProvider,
    Reply,
    Request,
    closed_port_url,
)

PROTOCOLS = (
    "openai",
    "anthropic",
    "gemini",
    "ollama",
    "azure_openai",
    "bedrock",
    "vertex",
    "cohere",
)

__all__ = [
    "HUGE_BYTES",
    "METADATA_URL",
    "MODES",
    "PROTOCOLS",
    "FakeProvider",
    "Reply",
    "Request",
    "closed_port_url",
]
